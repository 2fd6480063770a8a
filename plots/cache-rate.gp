# The paper's Figs. 14-16: TPOT and TTFT of every system against the share
# of experts the GPU holds, on three of its models (synthetic traces; 95%
# CI over seeds).  to and lo hold whole layers in the same budget.
sweep = 'cache-rate'
axis = 'cache'
xscale = 100
xlabel = 'experts the GPU holds (%)'
systems = 'all-gpu to lo um static reactive-lru promoe'
models = 'deepseek-moe-16b qwen1.5-moe-a2.7b mixtral-8x7b-int4'
extra = ''
set xrange [15:85]
load dir.'/system-lines.gp'
