# decode-speedup: decode speedup over reactive-lru per system and model.
sweep = 'decode-speedup'
metric = 'decode_tpot_ms_mean'
phase = 'decode'
measure = 'time per output token'
paper = 2.84
load dir.'/speedup-bars.gp'
