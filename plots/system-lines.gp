# system-lines.gp - loaded by cache-rate.gp and batch.gp: TPOT (top row)
# and TTFT (bottom row) of each system against one axis, a column per
# model, log scale.  Set first: sweep (its name), axis (the x column),
# xscale (multiplies it), xlabel, systems, models, extra (more --where
# arguments, or '') and heading (the first panel's title prefix).
set multiplot layout 2, words(models) margins 0.075, 0.84, 0.09, 0.93 spacing 0.05, 0.1
set logscale y
set key outside right center
do for [row = 1:2] {
    metric = row == 1 ? 'decode_tpot_ms_mean' : 'prefill_ttft_ms_mean'
    do for [m = 1:words(models)] {
        set title (row == 1 ? word(models, m) : '') noenhanced
        set ylabel (m == 1 ? (row == 1 ? 'TPOT (ms, log)' : 'TTFT (ms, log)') : '')
        set xlabel (row == 2 ? xlabel : '')
        if (row == 1 && m == words(models)) { set key } else { unset key }
        plot for [i = 1:words(systems)] sum(sweep, sprintf('--metric %s --by %s --where model=%s --where system=%s %s', metric, axis, word(models, m), word(systems, i), extra)) \
            using ($1 * xscale):3:4:5 with yerrorlines lw 1.5 pt 7 ps 0.4 lc rgb color(word(systems, i)) title word(systems, i)
    }
}
unset multiplot
