# breakdown: a decode step's time split into GPU compute and exposed
# transfer (the GPU stalled on experts), per system.
systems = 'all-gpu reactive-lru mixtral-offloading moe-infinity pre-gated hobbit fiddler monde promoe promoe-plus oracle'
call dir.'/index.gp' 'system_pos' systems
set boxwidth 0.7
set xtics scale 0 rotate by -30 ()
do for [i = 1:words(systems)] { set xtics add (word(systems, i) i - 1) }
set xrange [-0.6:words(systems) - 0.4]
set yrange [0:*]
set ylabel 'time per decode step (ms)'
set title 'Mixtral-8x7B, cache 50%: where a decode step goes (mean over seeds; bars: 95% CI of the total)' noenhanced
set key above
plot sum('breakdown', '--metric decode_tpot_ms_mean --by system') \
        using (system_pos(strcol(1))):3:4:5:(0.7) with boxerrorbars lc rgb '#f4a582' title 'GPU waiting for experts (exposed transfer; CPU expert compute in fiddler, monde)', \
     sum('breakdown', '--metric decode_compute_ms_mean --by system') \
        using (system_pos(strcol(1))):3 with boxes lc rgb '#4393c3' title 'compute (GPU busy)'
