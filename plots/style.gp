# style.gp - what every figure shares; loaded first by make-figures.sh,
# which sets: promoe (the program), results (the results folder), suffix
# ('' or '-quick'), out (the output path without extension), ext (pdf/png).
if (ext eq 'pdf') {
    set terminal pdfcairo enhanced color font 'Sans,8' size 6.4in,3in linewidth 1
} else {
    set terminal pngcairo enhanced font 'Sans,10' size 1280,600 linewidth 1.3
}
set output out.'.'.ext
set grid ytics lc rgb '#dddddd' lw 1 dt 1
set border 3
set tics nomirror out
set termoption noenhanced
set style fill solid 0.85 border rgb '#333333'
set errorbars small

# A sweep's results, summarized: sum('NAME', 'ARGS') is a data source of
# "BY... n mean lo hi sd" lines (mean in column #by + 2).
sum(name, args) = sprintf("< '%s' sweep summarize '%s/%s%s.jsonl' %s", promoe, results, name, \
                          suffix, args)

# One colour per system (and per predictor), the same in every figure.
color(s) = \
    s eq 'all-gpu' ? '#000000' : s eq 'reactive-lru' ? '#7f7f7f' : \
    s eq 'mixtral-offloading' ? '#8c564b' : s eq 'moe-infinity' ? '#9467bd' : \
    s eq 'pre-gated' ? '#17becf' : s eq 'hobbit' ? '#bcbd22' : s eq 'fiddler' ? '#e377c2' : \
    s eq 'monde' ? '#ff7f0e' : s eq 'promoe' ? '#d62728' : s eq 'promoe-plus' ? '#2ca02c' : \
    s eq 'promoe-adaptive' ? '#3b4cc0' : \
    s eq 'oracle' ? '#1f77b4' : s eq 'to' ? '#8c510a' : s eq 'lo' ? '#d8b365' : \
    s eq 'um' ? '#5ab4ac' : s eq 'static' ? '#01665e' : \
    s eq 'paper-lru' ? '#bdbdbd' : s eq 'paper-static' ? '#80cdc1' : \
    s eq 'prev-token' ? '#7f7f7f' : s eq 'popularity' ? '#8c564b' : \
    s eq 'cross-layer' ? '#9467bd' : s eq 'eam' ? '#ff7f0e' : s eq 'gate-reuse' ? '#17becf' : \
    s[1:7] eq 'learned' ? '#d62728' : '#333333'
# A name without its options ("learned:train=..." -> "learned").
label(s) = strstrt(s, ':') ? s[1:strstrt(s, ':') - 1] : s
# One colour per model (and per source of real routing counts).
mcolor(m) = \
    m eq 'deepseek-moe-16b' ? '#1b9e77' : m eq 'deepseek-v2-lite' ? '#66a61e' : \
    m eq 'qwen1.5-moe-a2.7b' ? '#7570b3' : m eq 'qwen2-57b-a14b-int4' ? '#e7298a' : \
    m eq 'mixtral-8x7b-int4' || m eq 'mixtral-8x7b' || m eq 'mixtral' ? '#d95f02' : \
    m eq 'olmoe-1b-7b' || m eq 'olmoe' ? '#1f78b4' : '#333333'
