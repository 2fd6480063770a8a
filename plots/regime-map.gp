# regime-map (issue 19, beyond the paper): promoe's speedup over the paper's
# LRU baseline (solid) and over reactive-lru (dashed) against a decode
# layer's compute time over one expert's copy time, varied by the link's
# bandwidth, for DeepSeek-MoE-16B and Mixtral-8x7B-int4.  Lines: the
# efficient engine (rtx4090-pcie4); open circles: transformers
# (rtx4090-transformers) at the same ratios, so the plot shows whether the
# ratio alone decides.  Filled marks: each preset at its own PCIe 4.0 link
# (square: efficient engine, triangle: transformers).  Dotted with crosses:
# promoe-adaptive over paper-lru on the efficient engine.  The dotted
# vertical line is a DeepSeek-shaped layer on an H200 (0.28 ms of compute,
# 0.33 ms an expert copy at 53 GB/s: 0.85).
models = 'deepseek-moe-16b mixtral-8x7b-int4'
base = '--by compute_per_copy --where system=promoe --where model=%s --where hw=%s'
adaptive = '--by compute_per_copy --where system=promoe-adaptive --where model=%s --where hw=%s'
set multiplot layout 1, 2
set logscale x
set xrange [0.007:30]
set xtics (0.01, 0.03, 0.1, 0.3, 1, 3, 10)
set xlabel "decode layer's compute time / one expert's copy time"
set key top left font ',8' spacing 0.85 samplen 2
set arrow 1 from 0.85, graph 0 to 0.85, graph 1 nohead dt 3 lc rgb '#555555'
set label 1 'H200' at 0.85, graph 0.04 offset 0.5, 0
set arrow 2 from graph 0, first 1 to graph 1, first 1 nohead lw 1 lc rgb '#000000' back
do for [phase = 1:2] {
    metric = phase == 1 ? 'decode_tpot_ms_mean' : 'prefill_ttft_ms_mean'
    set ylabel sprintf('promoe %s speedup (x)', phase == 1 ? 'decode' : 'prefill')
    set title (phase == 1 ? 'Where proactive caching pays: decode (cache 50%, 95% CI)' : 'prefill') noenhanced
    if (phase == 2) { unset key }
    plot for [m in models] sum('regime-map', sprintf('--metric %s '.base.' --speedup-over system=paper-lru', metric, m, 'rtx4090-pcie4')) \
             using 1:3:4:5 with yerrorlines lw 1.5 pt 7 ps 0.4 lc rgb mcolor(m) title m.' over paper-lru', \
         for [m in models] sum('regime-map', sprintf('--metric %s '.base.' --speedup-over system=reactive-lru', metric, m, 'rtx4090-pcie4')) \
             using 1:3 with lines lw 1.5 dt 2 lc rgb mcolor(m) title m.' over reactive-lru', \
         for [m in models] sum('regime-map', sprintf('--metric %s '.adaptive.' --speedup-over system=paper-lru', metric, m, 'rtx4090-pcie4')) \
             using 1:3 with linespoints lw 1 dt 3 pt 2 ps 0.6 lc rgb mcolor(m) title 'promoe-adaptive, '.m.' over paper-lru', \
         for [m in models] sum('regime-map', sprintf('--metric %s '.base.' --speedup-over system=paper-lru', metric, m, 'rtx4090-transformers')) \
             using 1:3 with points pt 6 ps 0.8 lc rgb mcolor(m) title m.' in transformers', \
         for [m in models] sum('regime-map', sprintf('--metric %s '.base.' --where pcie=23.9 --speedup-over system=paper-lru', metric, m, 'rtx4090-pcie4')) \
             using 1:3 with points pt 5 ps 1.6 lc rgb mcolor(m) notitle, \
         for [m in models] sum('regime-map', sprintf('--metric %s '.base.' --where pcie=23.9 --speedup-over system=paper-lru', metric, m, 'rtx4090-transformers')) \
             using 1:3 with points pt 9 ps 1.8 lc rgb mcolor(m) notitle
}
unset multiplot
