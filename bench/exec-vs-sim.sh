#!/bin/sh
# exec-vs-sim.sh - the simulator against the executor on this machine:
# profile the backend, run a model for real under each system and cache
# size (recording each run), replay the recorded traces in the simulator
# priced by the profile, and print measured and simulated times side by
# side, with the copy bandwidth the executor reached.
#
# `make bench` runs it on the CPU backend (a 4-layer model, 32-bit
# weights); `make bench-gpu` on the cuda backend with Mixtral-8x7B's shapes
# (LAYERS of its 32 layers, fp16).  Settings, from the environment:
#   PROMOE      the binary (./promoe)
#   BACKEND     cpu or cuda (cpu)
#   MODEL       a model .ini (cpu: a bench model written here; cuda:
#               mixtral-8x7b cut to LAYERS layers, default 4)
#   SYSTEMS     systems run ("all-gpu reactive-lru mixtral-offloading promoe")
#   CACHES      cache sizes for the offloading systems ("0.5")
#   REQUESTS, MAX_PROMPT, MAX_NEW   MT-Bench prompts run (8, 64, 32)
#   NOMINAL_GBPS  the host-to-device bandwidth to compare copies against
#   OUT         a folder to keep results.csv and the runs' JSON in
# Exits 77 (skipped) when the cuda backend cannot run here.
set -u
PROMOE=${PROMOE:-./promoe}
BACKEND=${BACKEND:-cpu}
SYSTEMS=${SYSTEMS:-all-gpu reactive-lru mixtral-offloading promoe}
CACHES=${CACHES:-0.5}
REQUESTS=${REQUESTS:-8}
MAX_PROMPT=${MAX_PROMPT:-64}
MAX_NEW=${MAX_NEW:-32}
shared=${PROMOE_SHARED_DATA:-$(dirname "$0")/../../shared/data}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
out=${OUT:-$tmp}
srcdir=$(dirname "$0")/..

if [ "$BACKEND" = cpu ] && [ -z "${OPENBLAS_NUM_THREADS:-}" ]; then
  # the copy thread gets a core of its own, as a GPU's copy engine is apart
  # from its SMs: on a CPU sharing every core, the copies slow the
  # computation down, which no simulated GPU does
  cores=$(nproc 2>/dev/null || echo 2)
  OPENBLAS_NUM_THREADS=$((cores > 1 ? cores - 1 : 1))
  export OPENBLAS_NUM_THREADS
fi
if [ -z "${MODEL:-}" ] && [ "$BACKEND" = cpu ]; then
  # big enough that a step takes milliseconds on a CPU; 32 bits a weight,
  # as the CPU backend holds and copies them (fp32: 214 MB)
  MODEL=$tmp/bench-moe.ini
  cat >"$MODEL" <<'INI'
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
elif [ -z "${MODEL:-}" ]; then
  # Mixtral-8x7B's shapes, fewer layers so that its fp32 host copy (5.8 GB
  # a layer) and its fp16 GPU copy fit
  MODEL=$tmp/mixtral-8x7b-${LAYERS:-4}l.ini
  sed -e "s/^name = .*/name = mixtral-8x7b-${LAYERS:-4}l/" \
      -e "s/^num_layers = .*/num_layers = ${LAYERS:-4}/" \
      "$srcdir/models/mixtral-8x7b.ini" >"$MODEL" || exit 1
fi
if [ "$BACKEND" != cpu ] &&
   ! "$PROMOE" exec -m tiny --prompt-ids 1 --backend "$BACKEND" >"$tmp/probe" 2>&1; then
  echo "SKIP: the $BACKEND backend cannot run here: $(cat "$tmp/probe")"
  exit 77
fi
mkdir -p "$out" || exit 1
if [ -r "$shared/mt-bench-questions.jsonl" ]; then
  prompts="--prompts $shared/mt-bench-questions.jsonl --requests $REQUESTS --max-prompt $MAX_PROMPT"
else
  prompts="--prompt-ids 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16"
fi
run="-m $MODEL --backend $BACKEND $prompts -n $MAX_NEW"

echo "backend $BACKEND, model $(sed -n 's/^name = //p' "$MODEL")${OPENBLAS_NUM_THREADS:+, $OPENBLAS_NUM_THREADS BLAS threads}; profiling..."
"$PROMOE" profile -m "$MODEL" --backend "$BACKEND" --context "$MAX_PROMPT" --reps 31 \
  -o "$out/hw.json" || exit 1
# the learned predictor's training data: an all-gpu run with hidden states
# (the same prompts as the runs measured: the predictor is not the subject)
# shellcheck disable=SC2086
"$PROMOE" exec $run -o "$out/train.h5" --record-hidden --json >/dev/null || exit 1

field() { sed -n "s/.*\"$1\":\\([-0-9.e+]*\\).*/\\1/p" "$2"; }
digest() { sed -n 's/.*"decisions_digest":"\([0-9a-f]*\)".*/\1/p' "$1"; }
printf 'system,cache,prefill_tokens_per_s,decode_tokens_per_s,ttft_ms,sim_ttft_ms,tpot_ms,sim_tpot_ms,copy_gbps,hit_rate,predictor_s,same_decisions\n' \
  >"$out/results.csv"
# same: whether the simulator, replaying the run's trace, made the run's
# decisions one by one (equal decisions_digest; for systems whose choices
# depend on when copies end, timing differences show here)
printf '%-20s %5s %9s %9s %9s %9s %7s %9s %9s %7s %8s %7s %5s\n' system cache "prefill/s" \
  "decode/s" "TTFT ms" sim error "TPOT ms" sim error "copy GB/s" "pred s" same
for system in $SYSTEMS; do
  caches=$CACHES
  [ "$system" = all-gpu ] && caches=1
  for cache in $caches; do
    name=$system-$cache
    opts="--system $system --train $out/train.h5"
    [ "$system" = all-gpu ] || opts="$opts -c $cache"
    # shellcheck disable=SC2086
    "$PROMOE" exec $run $opts -o "$tmp/run.h5" --record-hidden --json >"$out/$name.exec.json" ||
      exit 1
    # the predictor's measured time a call prices its calls in the simulator
    calls=$(field predictions "$out/$name.exec.json")
    if [ -n "$calls" ] && [ "$calls" -gt 0 ]; then
      opts="$opts --predictor-us $(awk -v s="$(field predictor_s "$out/$name.exec.json")" \
        -v n="$calls" 'BEGIN { printf "%.3f", 1e6 * s / n }')"
    fi
    # shellcheck disable=SC2086
    "$PROMOE" sim -t "$tmp/run.h5" -m "$MODEL" $opts -c "$cache" --profile "$out/hw.json" --json \
      >"$out/$name.sim.json" || exit 1
    e=$out/$name.exec.json
    s=$out/$name.sim.json
    awk -v sys="$system" -v c="$cache" \
        -v pf="$(field prefill_tokens_per_s "$e")" -v dc="$(field decode_tokens_per_s "$e")" \
        -v mt="$(field prefill_ttft_ms_mean "$e")" -v st="$(field prefill_ttft_ms_mean "$s")" \
        -v mp="$(field decode_tpot_ms_mean "$e")" -v sp="$(field decode_tpot_ms_mean "$s")" \
        -v bw="$(field copy_gbps "$e")" -v hr="$(field hit_rate "$e")" -v csv="$out/results.csv" \
        -v ps="$(field predictor_s "$e")" \
        -v same="$([ "$(digest "$e")" = "$(digest "$s")" ] && echo yes || echo no)" \
        'BEGIN {
           bw = bw == "" ? 0 : bw; hr = hr == "" ? 1 : hr; ps = ps == "" ? 0 : ps
           if (sys == "all-gpu") same = "-"
           printf "%-20s %5s %9.1f %9.1f %9.3f %9.3f %6.1f%% %9.3f %9.3f %6.1f%% %8.2f %7.3f %5s\n",
                  sys, c, pf, dc, mt, st, 100 * (st - mt) / mt, mp, sp, 100 * (sp - mp) / mp, bw,
                  ps, same
           printf "%s,%s,%g,%g,%g,%g,%g,%g,%g,%g,%g,%s\n", sys, c, pf, dc, mt, st, mp, sp, bw, hr,
                  ps, same >> csv
         }'
  done
done
# the prediction machinery itself (chunks, preemption, reordering, the
# predictor's thread) with nothing to predict: promoe with the none
# predictor against reactive-lru on the same per-layer cache
# shellcheck disable=SC2086
"$PROMOE" exec $run --system promoe --predictor none -c 0.5 --json >"$out/promoe-none.exec.json" &&
  "$PROMOE" exec $run --system reactive-lru --cache-scope per-layer -c 0.5 --json \
    >"$out/reactive-per-layer.exec.json" &&
  awk -v a="$(field decode_tpot_ms_mean "$out/promoe-none.exec.json")" \
      -v b="$(field decode_tpot_ms_mean "$out/reactive-per-layer.exec.json")" \
      'BEGIN { printf "promoe, no predictor, 50%%: TPOT %.3f ms; reactive-lru per-layer: %.3f ms (%+.1f%%)\n",
               a, b, 100 * (a - b) / b }'
if [ -n "${NOMINAL_GBPS:-}" ]; then
  awk -F, -v n="$NOMINAL_GBPS" 'NR > 1 && $9 > m { m = $9 }
    END { printf "copy stream: best %.2f GB/s, %.0f%% of the nominal %s GB/s\n", m, 100 * m / n, n }' \
    "$out/results.csv"
fi
[ -n "${OUT:-}" ] && echo "results in $out/results.csv"
exit 0
