# prefill-speedup: prefill speedup over reactive-lru per system and model.
sweep = 'prefill-speedup'
metric = 'prefill_ttft_ms_mean'
phase = 'prefill'
measure = 'time to first token'
paper = 2.13
load dir.'/speedup-bars.gp'
