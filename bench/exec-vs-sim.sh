#!/bin/sh
# exec-vs-sim.sh - the simulator against the executor on this machine's CPU:
# profile the machine, run a model for real (every expert resident, then
# half of them offloaded under LRU) recording each run, replay the recorded
# traces in the simulator priced by the profile, and print measured and
# simulated times side by side.  `make bench` runs it; PROMOE=path.
set -u
PROMOE=${PROMOE:-./promoe}
shared=${PROMOE_SHARED_DATA:-$(dirname "$0")/../../shared/data}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# a model big enough that a step takes milliseconds on a CPU; 32 bits a
# weight, as the CPU backend holds and copies them (fp32: 214 MB)
cat >"$tmp/bench-moe.ini" <<'INI'
[model]
name = bench-moe
num_layers = 4
num_experts = 8
top_k = 2
hidden_size = 512
expert_ffn_dim = 1536
num_shared_experts = 0
shared_ffn_dim = 0
num_heads = 8
num_kv_heads = 4
head_dim = 64
vocab_size = 4096
bits_per_weight = 32
norm_topk_prob = 1
INI
if [ -r "$shared/mt-bench-questions.jsonl" ]; then
  prompts="--prompts $shared/mt-bench-questions.jsonl --requests 8 --max-prompt 64"
else
  prompts="--prompt-ids 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16"
fi
"$PROMOE" profile -m "$tmp/bench-moe.ini" --context 64 --reps 31 -o "$tmp/hw.json" >/dev/null || exit 1
field() { sed "s/.*\"$1\":\\([-0-9.e+]*\\).*/\\1/" "$2"; }
printf '%-28s %12s %12s %7s %12s %12s %7s\n' "system" "TTFT ms" "sim" "error" "TPOT ms" "sim" "error"
for run in "all-gpu|" "reactive-lru|-c 0.5 --policy lru"; do
  system=${run%%|*}
  cache=${run#*|}
  # shellcheck disable=SC2086
  "$PROMOE" exec -m "$tmp/bench-moe.ini" $prompts -n 32 $cache -o "$tmp/run.h5" --json \
    >"$tmp/exec.json" || exit 1
  "$PROMOE" sim -t "$tmp/run.h5" -m "$tmp/bench-moe.ini" --system "$system" -c 0.5 \
    --profile "$tmp/hw.json" --json >"$tmp/sim.json" || exit 1
  awk -v s="$system${cache:+ (cache 50%)}" \
      -v mt="$(field prefill_ttft_ms_mean "$tmp/exec.json")" -v st="$(field prefill_ttft_ms_mean "$tmp/sim.json")" \
      -v mp="$(field decode_tpot_ms_mean "$tmp/exec.json")" -v sp="$(field decode_tpot_ms_mean "$tmp/sim.json")" \
      'BEGIN { printf "%-28s %12.3f %12.3f %6.1f%% %12.3f %12.3f %6.1f%%\n", s, mt, st, 100 * (st - mt) / mt, mp, sp, 100 * (sp - mp) / mp }'
done
