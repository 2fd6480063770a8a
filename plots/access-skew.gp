# The paper's Fig. 5: how skewed expert accesses are (left: the share of a
# layer's accesses its most frequent experts take, mean over layers; the
# diagonal is a uniform router), and what an LRU cache makes of them
# (right: hit rate against cache size; the real OLMoE trace with LRU and
# Belady's bound, and reactive LRU in the timed runs of cache-rate).
counts = 'olmoe:github olmoe:arxiv mixtral:github mixtral:arxiv'
traces = '{olmoe} {deepseek} {qwen} {mixtral}'
trace_names = 'olmoe-1b-7b deepseek-moe-16b qwen1.5-moe-a2.7b mixtral-8x7b-int4'
models = 'deepseek-moe-16b deepseek-v2-lite qwen1.5-moe-a2.7b qwen2-57b-a14b-int4 mixtral-8x7b-int4'
field(s, n) = n == 1 ? s[1:strstrt(s, ':') - 1] : s[strstrt(s, ':') + 1:]
set multiplot layout 1, 2
set xlabel "each layer's most frequent experts (% of its experts)"
set ylabel 'share of the accesses they take'
set xrange [0:100]
set yrange [0:1]
set key bottom right
set title 'CDF of expert accesses (real counts: solid; traces: dashed = synthetic)'
plot x / 100 with lines dt 3 lc rgb '#999999' title 'uniform', \
     for [i = 1:words(counts)] sum('access-skew', sprintf('--metric access_share --by experts_share --where model=%s --where text=%s', field(word(counts, i), 1), field(word(counts, i), 2))) \
        using ($1 * 100):3 with linespoints lw 1.5 pt (field(word(counts, i), 2) eq 'github' ? 7 : 5) ps 0.5 lc rgb mcolor(field(word(counts, i), 1)) \
        title sprintf('%s, %s counts (real, 209K tokens)', field(word(counts, i), 1), field(word(counts, i), 2)), \
     for [i = 1:words(traces)] sum('access-skew-traces', sprintf('--metric access_share --by experts_share --where source=%s', word(traces, i))) \
        using ($1 * 100):3 with lines lw 1.5 dt 1 + (i > 1) lc rgb mcolor(word(trace_names, i)) \
        title sprintf('%s trace%s', word(trace_names, i), i == 1 ? ' (real, 299 steps)' : ' (synthetic)')
set xlabel 'experts the GPU holds (% of all)'
set ylabel 'hit rate'
set xrange [5:95]
set key bottom right
set title 'hit rate against cache size (no prefetch)'
plot sum('olmoe-hit-rate', '--metric hit_rate --by cache --where policy=lru') using ($1 * 100):3 \
        with linespoints lw 2 pt 7 ps 0.6 lc rgb mcolor('olmoe') title 'olmoe-1b-7b real trace, LRU', \
     sum('olmoe-hit-rate', '--metric hit_rate --by cache --where policy=belady') using ($1 * 100):3 \
        with linespoints lw 2 dt 3 pt 6 ps 0.6 lc rgb mcolor('olmoe') title '... Belady (optimal eviction)', \
     for [i = 1:words(models)] sum('cache-rate', sprintf('--metric hit_rate --by cache --where model=%s --where system=reactive-lru', word(models, i))) \
        using ($1 * 100):3:4:5 with yerrorlines lw 1.5 dt 2 pt 7 ps 0.4 lc rgb mcolor(word(models, i)) title word(models, i).' (synthetic), LRU'
unset multiplot
