# model-bars.gp - loaded by figures of clustered bars, a cluster per model:
# set `models` (the list) and N (bars per cluster) first.  Defines
# model_pos(model) and G, the cluster pitch, so bar i of a model stands at
# model_pos(model) * G + i.
call dir.'/index.gp' 'model_pos' models
G = N + 2
set boxwidth 0.9
set xtics scale 0 ()
do for [m = 1:words(models)] { set xtics add (word(models, m) (m - 1) * G + (N + 1) / 2.0) }
set xrange [0:words(models) * G - 1]
set yrange [0:*]
