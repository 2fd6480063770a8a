#!/bin/sh
# `make figures-quick` end to end, into a temporary folder: every figure
# exists as a valid PDF and PNG, and every sweep's results hold the rows
# its grid calls for (points x rows per point, counted from the grid).
. "$(dirname "$0")/testlib.sh"
builddir=$(cd "$(dirname "$PROMOE")" && pwd)
srcdir=$(cd "$(dirname "$0")/.." && pwd)
command -v gnuplot >/dev/null || { echo "test_figures: skipped: no gnuplot (Debian: gnuplot-nox)"; exit 77; }
shared=${PROMOE_SHARED_DATA:-$srcdir/../shared/data}
[ -r "$shared/olmoe-1b-7b-decode-299.jsonl" ] ||
  { echo "test_figures: skipped: $shared (the real OLMoE trace) is absent"; exit 77; }
PROMOE_SHARED_DATA=$shared
export PROMOE_SHARED_DATA

${MAKE:-make} -s -C "$builddir" figures-quick FIGURES_RESULTS="$tmp/results" FIGURES_OUT="$tmp/out" \
  FIGURES_JOBS=2 >"$tmp/log" 2>&1
rc=$?
[ $rc -eq 0 ] && ok || { fail "make figures-quick exit $rc"; tail -20 "$tmp/log"; }

for fig in decode-speedup prefill-speedup tpot-vs-cache predictor-accuracy goodput-vs-stride \
    ablation breakdown sensitivity paper-baselines bits lru-vs-cache access-skew predictor-layers \
    cache-rate batch regime-map adaptive; do
  pdf=$tmp/out/quick/$fig.pdf
  png=$tmp/out/quick/$fig.png
  if [ "$(head -c 5 "$pdf" 2>/dev/null)" = "%PDF-" ] && tail -c 8 "$pdf" | grep -q '%%EOF'; then ok; else
    fail "$fig.pdf is missing or not a whole PDF"; fi
  # PNG signature, then the IHDR chunk: width 1280, height 600
  sig=$(od -An -tx1 -N 24 "$png" 2>/dev/null | tr -d ' \n')
  [ "$sig" = "89504e470d0a1a0a0000000d494844520000050000000258" ] && ok ||
    fail "$fig.png is missing or not a 1280x600 PNG ($sig)"
done
ls "$tmp/out/quick" | grep -q tmp && fail "a temporary file is left in the figures folder" || ok

for sweep in "$srcdir"/experiments/*.sweep; do
  name=$(basename "$sweep" .sweep)
  "$PROMOE" sweep "$sweep" --quick -n --results "$tmp/results" >"$tmp/plan"
  done_points=$(grep -c '^done ' "$tmp/plan")
  all_points=$(grep -c '^[a-z]* *[a-z0-9_-]*=' "$tmp/plan")
  # rows a point prints: predict eval one per stride (4 with --stride 1..4)
  # or, --per-layer on 28-layer Qwen2-57B at strides 1..2, one per target
  # layer (27 + 26); trace popularity one per point of its curve
  per=1
  grep -q '^run = predict eval .*--stride 1\.\.4' "$sweep" && per=4
  grep -q '^run = predict eval .*--stride 1\.\.2 .*--per-layer' "$sweep" &&
    grep -q '^model = qwen2-57b-a14b-int4$' "$sweep" && per=53
  grep -q '^run = trace popularity .*--points 20' "$sweep" && per=20
  rows=$(($(wc -l <"$tmp/results/$name-quick.csv") - 1))
  [ "$done_points" -eq "$all_points" ] && [ "$all_points" -gt 0 ] &&
    [ "$rows" -eq $((all_points * per)) ] && ok ||
    fail "$name: $done_points of $all_points points done, $rows rows (expected $((all_points * per)))"
done

# The real OLMoE trace's hit rates, as ../shared/data/NOTICE.md measured
# them independently: LRU 0.5650 / 0.7842 and Belady 0.7664 / 0.9131 with
# 25% / 50% of the 1024 experts
for want in "lru 0.25 0.5650" "lru 0.5 0.7842" "belady 0.25 0.7664" "belady 0.5 0.9131"; do
  set -- $want
  got=$(awk -F, -v p="$1" -v c="$2" 'NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
    $col["policy"] == p && $col["cache"] == c { printf "%.4f", $col["hit_rate"] }' \
    "$tmp/results/olmoe-hit-rate-quick.csv")
  [ "$got" = "$3" ] && ok || fail "olmoe-hit-rate: $1 at $2 gives '$got', NOTICE.md says $3"
done

finish test_figures
