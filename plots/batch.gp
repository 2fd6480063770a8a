# The paper's Figs. 17-21: TPOT and TTFT of each system against batch size
# 1-4 (continuous batching), cache 50%, on three of its models (synthetic
# traces; 95% CI over seeds).
sweep = 'batch'
axis = 'batch'
xscale = 1
xlabel = 'batch size (requests a step)'
systems = 'lo um static reactive-lru promoe'
models = 'deepseek-moe-16b qwen1.5-moe-a2.7b mixtral-8x7b-int4'
extra = ''
set xrange [0.8:4.2]
set xtics 1
load dir.'/system-lines.gp'
