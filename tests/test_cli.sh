#!/bin/sh
# The promoe command as a user meets it: exit statuses (0 ok, 1 failed,
# 2 usage), one-line errors, --help on every command, and the Quick start.
. "$(dirname "$0")/testlib.sh"

# expect STATUS DESCRIPTION -- COMMAND...: runs it, checks the status and,
# for failures, that stderr is exactly one line starting with "promoe".
expect() {
  want=$1; what=$2; shift 3
  "$@" >"$tmp/out" 2>"$tmp/err"
  got=$?
  if [ "$got" -ne "$want" ]; then
    echo "FAIL: $what: exit $got, expected $want"; cat "$tmp/err"; fails=$((fails + 1)); return
  fi
  if [ "$want" -ne 0 ]; then
    lines=$(wc -l <"$tmp/err")
    if [ "$lines" -ne 1 ] || ! grep -q '^promoe' "$tmp/err"; then
      echo "FAIL: $what: error is not one 'promoe...' line:"; cat "$tmp/err"; fails=$((fails + 1)); return
    fi
  fi
  passes=$((passes + 1))
}

# contains PATTERN FILE DESCRIPTION
contains() {
  if grep -q -- "$1" "$2"; then passes=$((passes + 1)); else
    echo "FAIL: $3: '$1' not in output:"; cat "$2"; fails=$((fails + 1)); fi
}

"$PROMOE" >/dev/null 2>"$tmp/err"
if [ $? -eq 2 ] && grep -q '^usage: promoe COMMAND' "$tmp/err"; then passes=$((passes + 1)); else
  echo "FAIL: bare promoe should print usage on stderr and exit 2"; fails=$((fails + 1)); fi
expect 2 "unknown command" -- "$PROMOE" frobnicate
contains "unknown command 'frobnicate'" "$tmp/err" "unknown command message"
expect 2 "unknown trace command" -- "$PROMOE" trace frob
expect 2 "unknown option" -- "$PROMOE" trace gen --frob -o "$tmp/x.h5"
contains "unknown option '--frob'" "$tmp/err" "unknown option message"
expect 2 "missing option value" -- "$PROMOE" trace gen -o
expect 2 "bad number" -- "$PROMOE" trace gen --requests lots -o "$tmp/x.h5"
contains "expected an integer" "$tmp/err" "bad number message"
expect 2 "gen without output" -- "$PROMOE" trace gen
expect 2 "import without --experts" -- "$PROMOE" trace import --format csv in.csv -o "$tmp/x.h5"
expect 2 "import unknown format" -- "$PROMOE" trace import --format xml --experts 8 in -o "$tmp/x.h5"
expect 2 "export unknown format" -- "$PROMOE" trace export --format xml in.h5
expect 2 "unknown model" -- "$PROMOE" trace gen -m nope -o "$tmp/x.h5"
contains "unknown model 'nope' (presets: " "$tmp/err" "unknown model message"
expect 1 "missing trace" -- "$PROMOE" trace info "$tmp/absent.h5"
contains "no such file" "$tmp/err" "missing trace message"
printf 'not hdf5\n' >"$tmp/text.h5"
expect 1 "not a trace" -- "$PROMOE" trace info "$tmp/text.h5"

for cmd in "" "trace" "trace gen" "trace import" "trace export" "trace info" "trace popularity" "sim" "systems" "exec" "profile" "demo" \
    "predict" "predict train" "predict eval" "sweep" "sweep summarize"; do
  # shellcheck disable=SC2086
  expect 0 "help of '$cmd'" -- "$PROMOE" $cmd --help
  contains "usage: promoe" "$tmp/out" "help of '$cmd'"
done
expect 0 "version" -- "$PROMOE" --version
contains "CUDA support" "$tmp/out" "version"
# start-up in milliseconds: OpenBLAS and libzip are opened by the first
# command that needs them, not linked; and the program's own products go to
# OpenBLAS (common/blas.h), never to the reference CBLAS linked for GSL
if ldd "$PROMOE" | grep -E 'libopenblas|libzip' >"$tmp/linked"; then
  echo "FAIL: promoe links what it should open on first use:"; cat "$tmp/linked"; fails=$((fails + 1))
else passes=$((passes + 1)); fi
# what version says is linked statically is not loaded as a shared library
static=$(sed -n 's/^linked statically: //p' "$tmp/out")
[ -n "$static" ] && ok || fail "version does not say what is linked statically"
for lib in $static; do
  [ "$lib" = nothing ] && continue
  ldd "$PROMOE" | grep -qi "lib$lib[.-]" && fail "$lib is said static but loaded: $(ldd "$PROMOE" | grep -i "lib$lib")" || ok
done
if nm -D --undefined-only "$PROMOE" | grep ' cblas_' >"$tmp/cblas"; then
  echo "FAIL: promoe calls CBLAS functions directly (use common/blas.h):"; cat "$tmp/cblas"; fails=$((fails + 1))
else passes=$((passes + 1)); fi
# with CUDA, the program does not link the CUDA libraries: the cuda
# backend is a plugin, opened by the commands that ask for it
if grep -q "CUDA support: built" "$tmp/out"; then
  ldd "$PROMOE" | grep -q "libcudart\|libcublas" && fail "promoe links the CUDA libraries" || ok
  expect 1 "cuda plugin not found" -- env PROMOE_CUDA_PLUGIN=/nonexistent/promoe-cuda.so \
    "$PROMOE" exec -m tiny --prompt-ids 1 --backend cuda
  contains "plugin promoe-cuda.so is not at /nonexistent/promoe-cuda.so" "$tmp/err" "cuda plugin path"
  # found beside the program: it runs, or says there is no GPU
  "$PROMOE" exec -m tiny --prompt-ids 1 -n 1 --backend cuda >"$tmp/out" 2>"$tmp/err" ||
    grep -q "no CUDA device" "$tmp/err" && ok || fail "cuda plugin: $(cat "$tmp/err")"
fi

# A round trip through the command line, and the demo.
expect 0 "gen" -- "$PROMOE" trace gen -m tiny --requests 2 --hidden-dim 8 -o "$tmp/t.h5"
expect 0 "export" -- "$PROMOE" trace export --format csv "$tmp/t.h5" -o "$tmp/t.csv"
expect 0 "import" -- "$PROMOE" trace import --format csv --experts 8 -m tiny "$tmp/t.csv" -o "$tmp/t2.h5"
expect 0 "info --json" -- "$PROMOE" trace info --json "$tmp/t2.h5"
contains '"num_layers":4' "$tmp/out" "info --json"
# sim --hits-only on the generated trace (tiny: 4 layers x 8 experts)
expect 0 "sim --hits-only" -- "$PROMOE" sim --trace "$tmp/t2.h5" --hits-only --cache 0.5 --json
contains '"cache_slots":16' "$tmp/out" "sim --json"
contains '"hit_rate":' "$tmp/out" "sim --json"
# a cache in bytes sized by the trace's own model preset, as by -m tiny
slots() { sed -n 's/.*"cache_slots":\([0-9]*\).*/\1/p' "$1"; }
expect 0 "sim --hits-only in bytes, the trace's model" -- "$PROMOE" sim -t "$tmp/t2.h5" --hits-only -c 1MiB --json
cp "$tmp/out" "$tmp/bytes.json"
expect 0 "sim --hits-only in bytes, -m tiny" -- "$PROMOE" sim -t "$tmp/t2.h5" -m tiny --hits-only -c 1MiB --json
[ -n "$(slots "$tmp/out")" ] && [ "$(slots "$tmp/bytes.json")" = "$(slots "$tmp/out")" ] && passes=$((passes + 1)) ||
  { echo "FAIL: --cache 1MiB: $(slots "$tmp/bytes.json") slots from the trace's model, $(slots "$tmp/out") with -m tiny"; fails=$((fails + 1)); }
# predict eval: a stride with no target layer (tiny has 4 layers) is refused
expect 2 "eval a stride beyond the layers" -- "$PROMOE" predict eval -t "$tmp/t2.h5" -p prev-token --stride 4
contains "no layer is 4 ahead of another (strides 1 to 3)" "$tmp/err" "stride beyond the layers"
expect 2 "eval a stride range beyond the layers" -- "$PROMOE" predict eval -t "$tmp/t2.h5" -p prev-token --stride 2..40
expect 0 "eval the last stride" -- "$PROMOE" predict eval -t "$tmp/t2.h5" -p prev-token --stride 3 --split 0
# a predictor that cannot run (gate-reuse needs hidden states, which an
# imported CSV has not) fails the command before any row is printed
expect 1 "eval with a predictor that cannot run" -- "$PROMOE" predict eval -t "$tmp/t2.h5" -p prev-token -p gate-reuse --csv --split 0
[ -s "$tmp/out" ] && { echo "FAIL: partial output before the failure:"; cat "$tmp/out"; fails=$((fails + 1)); } ||
  passes=$((passes + 1))
# import notes go to stderr: stdout carries the result only
printf '{"tok": 0, "layers": [[1], [2], [3]]}\n{"tok": 1, "layers": [[1], [2]]}\n' >"$tmp/gap.jsonl"
expect 0 "import with a missing record" -- "$PROMOE" trace import --format warp-jsonl --experts 8 "$tmp/gap.jsonl" -o "$tmp/gap.h5"
contains "^imported " "$tmp/out" "import summary on stdout"
contains "note: 1 (token, layer) pairs had no record" "$tmp/err" "import note on stderr"
grep -q "note" "$tmp/out" && { echo "FAIL: a note on stdout"; fails=$((fails + 1)); } || passes=$((passes + 1))
contains "no -m: the data was not checked against a model: it holds 3 layers, top-k up to 1, expert ids up to 3 of the 8 given by --experts" "$tmp/err" "import note without -m"
# with -m, the preset gives the experts and the data must have its shape
# (tiny: 4 layers, 8 experts, top-2)
printf '{"tok": 0, "layers": [[1, 2], [3, 4], [5, 6], [7, 0]]}\n' >"$tmp/tiny.jsonl"
expect 0 "import checked against -m" -- "$PROMOE" trace import --format warp-jsonl -m tiny "$tmp/tiny.jsonl" -o "$tmp/tiny-imp.h5"
grep -q "not checked" "$tmp/err" && { echo "FAIL: a checked import says it was not"; fails=$((fails + 1)); } || passes=$((passes + 1))
expect 1 "import of data shaped unlike -m" -- "$PROMOE" trace import --format warp-jsonl -m mixtral-8x7b "$tmp/tiny.jsonl" -o "$tmp/x.h5"
contains "the data has 4 MoE layers but model mixtral-8x7b has 32" "$tmp/err" "import layers checked"
expect 2 "import --experts against -m" -- "$PROMOE" trace import --format warp-jsonl -m tiny --experts 64 "$tmp/tiny.jsonl" -o "$tmp/x.h5"
contains "--experts 64 disagrees with model tiny (experts 8)" "$tmp/err" "import --experts checked"
expect 0 "sim --csv" -- "$PROMOE" sim -t "$tmp/t2.h5" --hits-only -c 8 -p belady --cache-scope per-layer --csv
contains '^trace,policy,cache_scope,decisions_digest,cache_slots' "$tmp/out" "sim --csv header"
expect 0 "sim static policy" -- "$PROMOE" sim -t "$tmp/t2.h5" --hits-only -c 8 -p "static:trace=$tmp/t2.h5,spare=2" --json
contains '"policy":"static"' "$tmp/out" "sim static policy"
expect 2 "sim unknown policy" -- "$PROMOE" sim -t "$tmp/t2.h5" --hits-only -c 8 -p mru
contains "unknown policy 'mru'" "$tmp/err" "sim unknown policy"
# timed: the model comes from the trace's model attribute (tiny)
expect 0 "sim timed" -- "$PROMOE" sim -t "$tmp/t2.h5" -c 8 --predictor oracle --chunks 3 --preempt --reorder --json
contains '"decode_tpot_ms_p50":' "$tmp/out" "sim timed --json"
contains '"model":"tiny","hw":"rtx4090-pcie4"' "$tmp/out" "sim timed --json"
# tiny's experts are 3*64*128*2 = 49,152 bytes: chunks of at most 15 KiB (15,360
# bytes) make 49,152 / 15,360 = 3.2, rounded up to 4 chunks
expect 0 "sim --chunk-bytes" -- "$PROMOE" sim -t "$tmp/t2.h5" -c 8 --chunk-bytes 15KiB --predictor oracle --preempt --json
contains '"chunks_per_expert":4' "$tmp/out" "sim --chunk-bytes"
expect 2 "sim --chunks and --chunk-bytes" -- "$PROMOE" sim -t "$tmp/t2.h5" -c 8 --chunks 2 --chunk-bytes 1MB
cat >"$tmp/prof.json" <<'JSON'
{"format": "promoe-profile", "version": 1, "model": "tiny",
 "attention": [[1, 1e-6], [64, 2e-5]], "router": [[1, 1e-7], [64, 1e-6]],
 "expert": [[1, 5e-7], [64, 4e-6]], "transfer": [[1000, 1e-6], [100000, 2e-5]]}
JSON
expect 0 "sim --profile" -- "$PROMOE" sim -t "$tmp/t2.h5" -c 8 --profile "$tmp/prof.json" --json
contains "\"profile\":\"$tmp/prof.json\"" "$tmp/out" "sim --profile"
# a step's fixed cost (10 ms at any token count) adds 10 ms to every step:
# to the mean time per output token, each decode step being one token
tpot() { sed -n 's/.*"decode_tpot_ms_mean":\([0-9.e+-]*\).*/\1/p' "$1"; }
cp "$tmp/out" "$tmp/nofixed.json"
sed 's/"transfer"/"step_fixed": [[1, 0.01], [64, 0.01]], "transfer"/' "$tmp/prof.json" >"$tmp/fixed.json"
expect 0 "sim --profile with step_fixed" -- "$PROMOE" sim -t "$tmp/t2.h5" -c 8 --profile "$tmp/fixed.json" --json
awk -v a="$(tpot "$tmp/nofixed.json")" -v b="$(tpot "$tmp/out")" \
  'BEGIN { exit !(a > 0 && b - a > 9.999 && b - a < 10.001) }' && passes=$((passes + 1)) ||
  { echo "FAIL: step_fixed of 10 ms: TPOT $(tpot "$tmp/nofixed.json") -> $(tpot "$tmp/out")"; fails=$((fails + 1)); }
printf '{"format": "promoe-profile", "version": 1}' >"$tmp/badprof.json"
expect 1 "sim bad profile" -- "$PROMOE" sim -t "$tmp/t2.h5" -c 8 --profile "$tmp/badprof.json"
contains 'missing table "attention"' "$tmp/err" "bad profile message"
expect 2 "sim bad --set" -- "$PROMOE" sim -t "$tmp/t2.h5" -c 8 --set warp=9
expect 2 "sim unknown predictor" -- "$PROMOE" sim -t "$tmp/t2.h5" -c 8 --predictor psychic
expect 0 "sim belady timed" -- "$PROMOE" sim -t "$tmp/t2.h5" -c 8 -p belady --predictor oracle
expect 2 "sim cache larger than the model" -- "$PROMOE" sim -t "$tmp/t2.h5" --hits-only -c 33
contains "larger than the model's 32 experts" "$tmp/err" "sim cache too large"

expect 0 "demo" -- "$PROMOE" demo --requests 2 -o "$tmp/demo.h5"
contains "promoe demo: deepseek-moe-16b, expert cache of 896 of 1792 experts" "$tmp/out" "demo"
contains "^on rtx4090-pcie4:" "$tmp/out" "demo's efficient regime"
contains "^on rtx4090-transformers:" "$tmp/out" "demo's framework regime"
cp "$tmp/out" "$tmp/demo.out"
# promoe and promoe-plus share one learned predictor, trained once, 256
# wide: each row is what sim gives when it trains that predictor itself on
# the demo's training trace (other requests: token seed 2)
"$PROMOE" trace gen -m deepseek-moe-16b --requests 2 --seed 1 --token-seed 2 --hidden-dim 64 \
  -o "$tmp/demo-train.h5" >/dev/null 2>&1 || fail "demo training trace"
for hw in rtx4090-pcie4 rtx4090-transformers; do
  # the demo's table for this regime: from its "on HW:" line to the next blank one
  sed -n "/^on $hw:/,/^\$/p" "$tmp/demo.out" >"$tmp/demo-$hw.out"
  for sys in promoe promoe-plus; do
    expect 0 "sim $sys on $hw as the demo runs it" -- "$PROMOE" sim -t "$tmp/demo.h5" -c 0.5 \
      --system $sys --hw $hw --predictor "learned:train=$tmp/demo-train.h5,split=1,hidden=256" --json
    tpot=$(sed -n 's/.*"decode_tpot_ms_mean":\([0-9.e+-]*\).*/\1/p' "$tmp/out" | awk '{ printf "%.3f", $1 }')
    contains "^$sys  *learned  *[0-9.]*  *$tpot " "$tmp/demo-$hw.out" "demo's $sys row on $hw is sim's ($tpot ms)"
  done
  cp "$tmp/demo-$hw.out" "$tmp/out"
  for sys in all-gpu reactive-lru paper-lru mixtral-offloading moe-infinity pre-gated hobbit fiddler monde promoe promoe-plus oracle; do
    contains "^$sys " "$tmp/out" "demo row $sys on $hw"
  done
  # the baseline's speedup over itself is 1.00 on both columns
  contains "^reactive-lru .* 1.00 *1.00 *0.000 *0.000$" "$tmp/out" "demo baseline speedups on $hw"
  contains "^$hw  *[0-9.]*x / [0-9.]*x  *[0-9.]*x / [0-9.]*x  *[0-9.]*$" "$tmp/demo.out" "demo's regime line for $hw"
done

# --system, with an explicit option overriding it
expect 0 "sim --system" -- "$PROMOE" sim -t "$tmp/t2.h5" -c 8 --system promoe --json
contains '"system":"promoe"' "$tmp/out" "sim --system"
contains "prefers predictor learned, which cannot run here" "$tmp/err" "fallback note"
expect 0 "sim --system --train" -- "$PROMOE" sim -t "$tmp/t.h5" -c 0.5 --system promoe --train "$tmp/t.h5" --json
contains '"predictor":"learned:train=.*/t.h5,split=1"' "$tmp/out" "sim --train feeds the system's learned predictor"
# a predictor cache ($PROMOE_PREDICTOR_CACHE, which promoe sweep sets):
# the first run trains and saves, the next loads what was saved (another
# predictor put in its place changes the decisions: it is read), and a
# damaged file is trained again; the decisions are those of training
digest() { sed 's/.*"decisions_digest":"\([0-9a-f]*\)".*/\1/' "$tmp/out"; }
check_digest() { # WHAT WANT GOT
  [ -n "$3" ] && [ "$2" = "$3" ] && passes=$((passes + 1)) ||
    { echo "FAIL: $1: decisions $3, expected $2"; fails=$((fails + 1)); }
}
plain=$(digest)
mkdir "$tmp/pc"
for run in "into an empty cache" "from the cache"; do
  expect 0 "sim $run" -- env PROMOE_PREDICTOR_CACHE="$tmp/pc" "$PROMOE" sim -t "$tmp/t.h5" -c 0.5 \
    --system promoe --train "$tmp/t.h5" --json
  check_digest "sim $run" "$plain" "$(digest)"
done
cached=$(ls "$tmp/pc"/learned-*.h5)
[ "$(ls "$tmp/pc" | wc -l)" -eq 1 ] && [ -s "$cached" ] && passes=$((passes + 1)) ||
  { echo "FAIL: the cache holds $(ls "$tmp/pc"), not one trained predictor"; fails=$((fails + 1)); }
"$PROMOE" trace gen -m tiny --requests 2 --hidden-dim 8 --seed 5 -o "$tmp/t5.h5" 2>/dev/null
"$PROMOE" predict train -t "$tmp/t5.h5" -p learned:stride=2 --split 1 -o "$cached" >/dev/null 2>&1
expect 0 "sim on another predictor in the cache" -- env PROMOE_PREDICTOR_CACHE="$tmp/pc" \
  "$PROMOE" sim -t "$tmp/t.h5" -c 0.5 --system promoe --train "$tmp/t.h5" --json
[ "$(digest)" != "$plain" ] && passes=$((passes + 1)) ||
  { echo "FAIL: the cached predictor was not read"; fails=$((fails + 1)); }
echo damaged >"$cached"
expect 0 "sim on a damaged cache" -- env PROMOE_PREDICTOR_CACHE="$tmp/pc" "$PROMOE" sim \
  -t "$tmp/t.h5" -c 0.5 --system promoe --train "$tmp/t.h5" --json
check_digest "sim on a damaged cache" "$plain" "$(digest)"
[ "$(head -c 4 "$cached" | od -An -c | tr -d ' ')" = "211HDF" ] && passes=$((passes + 1)) ||
  { echo "FAIL: the damaged cache file was not trained again"; fails=$((fails + 1)); }
# the model starts from the replayed trace's router: another router, another entry
expect 0 "sim on another router" -- "$PROMOE" sim -t "$tmp/t5.h5" -c 0.5 --system promoe \
  --train "$tmp/t.h5" --json
plain5=$(digest)
expect 0 "sim on another router, the cache holding the first" -- env PROMOE_PREDICTOR_CACHE="$tmp/pc" \
  "$PROMOE" sim -t "$tmp/t5.h5" -c 0.5 --system promoe --train "$tmp/t.h5" --json
check_digest "sim on another router with a cache" "$plain5" "$(digest)"
[ "$(ls "$tmp/pc" | wc -l)" -eq 2 ] && passes=$((passes + 1)) ||
  { echo "FAIL: another router did not get its own cache entry: $(ls "$tmp/pc")"; fails=$((fails + 1)); }
cp "$tmp/t.h5" "$tmp/a,b.h5"
expect 1 "sim --train with a comma" -- "$PROMOE" sim -t "$tmp/t.h5" -c 0.5 --system promoe --train "$tmp/a,b.h5"
contains "cannot be passed as a predictor option" "$tmp/err" "--train comma message"
expect 2 "bad --lowbit-on-miss" -- "$PROMOE" sim -t "$tmp/t.h5" -c 0.5 --lowbit-on-miss "weight<0.2,ratio=2"
contains "the ratio must be in (0, 1\]" "$tmp/err" "lowbit ratio message"
expect 0 "hobbit" -- "$PROMOE" sim -t "$tmp/t.h5" -c 0.5 --system hobbit --json
contains '"lowbit_loads":[1-9]' "$tmp/out" "hobbit loads some experts in low precision"
expect 0 "sim --system override" -- "$PROMOE" sim -t "$tmp/t2.h5" -c 8 --system promoe --predictor oracle --json
contains '"predictor":"oracle"' "$tmp/out" "sim --system override"
# a policy given whole replaces the system's, trace and all: static's
# needs no --train once its policy is lru
expect 2 "sim --system static without --train" -- "$PROMOE" sim -t "$tmp/t2.h5" -c 8 --system static
expect 0 "sim --system static --policy lru" -- "$PROMOE" sim -t "$tmp/t2.h5" -c 8 --system static --policy lru --json
contains '"system":"static","policy":"lru","cache_scope":"per-layer"' "$tmp/out" "static's scope, lru's policy"
# over a system with 32 MiB chunks, --chunks says how many
expect 0 "sim --system promoe-plus --chunks 2" -- "$PROMOE" sim -t "$tmp/t2.h5" -c 8 --system promoe-plus --chunks 2 --json
contains '"chunks_per_expert":2' "$tmp/out" "--chunks over chunk_bytes"
expect 2 "sim unknown system" -- "$PROMOE" sim -t "$tmp/t2.h5" -c 8 --system vllm
contains "unknown system 'vllm' (presets: all-gpu" "$tmp/err" "unknown system message"

# trace popularity: the share of accesses a layer's top experts take.
# Counts by hand: layer 0 has 6, 3, 1, 0 of 10 (x = 1/8 is half the top
# expert: 0.3; then 0.6, 0.75, 0.9, 0.95, 1, 1, 1 at x = 2/8 ... 8/8);
# layer 2 is uniform (share = x); the mean of the two, point by point.
printf 'layer,expert,count\n0,0,1\n0,1,6\n0,2,3\n0,3,0\n2,0,5\n2,1,5\n2,2,5\n2,3,5\n' >"$tmp/counts.csv"
expect 0 "popularity of counts" -- "$PROMOE" trace popularity "$tmp/counts.csv" --points 8 --csv
got=$(awk -F, 'NR > 1 { printf "%s ", $6 }' "$tmp/out")
[ "$got" = "0.212500 0.425000 0.562500 0.700000 0.787500 0.875000 0.937500 1.000000 " ] &&
  passes=$((passes + 1)) || { echo "FAIL: popularity curve '$got'"; fails=$((fails + 1)); }
expect 0 "popularity of one layer" -- "$PROMOE" trace popularity "$tmp/counts.csv" --points 8 --layer 0 --json
contains '"layer":"0","experts":4,"experts_share":0.125,"top_experts":0.5,"access_share":0.3}' "$tmp/out" "half the top expert"
expect 1 "popularity of a layer not there" -- "$PROMOE" trace popularity "$tmp/counts.csv" --layer 1
contains "has no layer 1 (its layers: 0 to 2, 2 of them)" "$tmp/err" "absent layer message"
# bad_counts CONTENT MESSAGE: a counts CSV refused with MESSAGE
bad_counts() {
  printf "$1" >"$tmp/bad.csv"
  expect 1 "popularity: $2" -- "$PROMOE" trace popularity "$tmp/bad.csv"
  contains "$2" "$tmp/err" "bad counts message"
}
bad_counts 'layer,expert,hits\n0,0,1\n' "line 1: expected the header 'layer,expert,count'"
bad_counts 'layer,expert,count\n0,0,1\n0,x,1\n' "line 3: expected three non-negative integers"
bad_counts 'layer,expert,count\n0,1,1\n0,1,2\n' "layer 0 expert 1 is listed twice"
bad_counts 'layer,expert,count\n' "no counts (only a header, or empty)"
bad_counts 'layer,expert,count\n0,40000,1\n' "layer 0 or expert 40000 out of range"
expect 2 "popularity: no source" -- "$PROMOE" trace popularity
# a trace: layer 0's top quarter of experts, counted a second way from the
# exported CSV (request,token,phase,layer,rank,expert,...)
expect 0 "popularity of a trace" -- "$PROMOE" trace popularity "$tmp/t.h5" --layer 0 --points 4 --csv
E=$("$PROMOE" trace info --json "$tmp/t.h5" | sed 's/.*"num_experts":\([0-9]*\).*/\1/')
want=$(awk -F, -v E="$E" 'NR > 1 && $4 == 0 { n[$6]++; all++ } END { for (e in n) print n[e], all }' "$tmp/t.csv" |
  sort -rn | awk -v q=$((E / 4)) 'NR <= q { top += $1; all = $2 } END { printf "%.6f", top / all }')
got=$(awk -F, 'NR == 2 { print $6 }' "$tmp/out")
[ "$got" = "$want" ] && passes=$((passes + 1)) || { echo "FAIL: trace popularity $got, by hand $want"; fails=$((fails + 1)); }

# Resource limits, up front: 10^8 requests of up to 2048 + 256 tokens need
# far more disk than any machine has; refused at once, nothing written.
expect 1 "gen: too large for the disk" -- "$PROMOE" trace gen -m tiny --requests 100000000 --prompt-mean 100000 -o "$tmp/huge.h5"
contains "a trace of about 2.3e+11 tokens needs about .* GiB, more than the .* GiB free on its file system" "$tmp/err" "disk space message"
[ -z "$(ls "$tmp" | grep '^huge\.h5')" ] && passes=$((passes + 1)) || { echo "FAIL: a refused trace left a file"; fails=$((fails + 1)); }

# exec: real inference on the CPU, deterministic, recorded and replayed
# outputs JSON: the generated ids of an exec run
outputs() { sed 's/.*"output_ids"//' "$1"; }
expect 0 "exec" -- "$PROMOE" exec -m tiny --prompt-ids 1,2,3 --prompt-ids 9,8 -n 5 --json
cp "$tmp/out" "$tmp/exec1"
contains '"prefill_tokens":5,"decode_tokens":8' "$tmp/out" "exec token counts (2 prompts of 3 + 2, 4 fed back each)"
expect 0 "exec again, recording" -- "$PROMOE" exec -m tiny --prompt-ids 1,2,3 --prompt-ids 9,8 -n 5 --json -o "$tmp/rec.h5" --record-hidden
[ "$(outputs "$tmp/out")" = "$(outputs "$tmp/exec1")" ] &&
  passes=$((passes + 1)) || { echo "FAIL: exec is not deterministic"; fails=$((fails + 1)); }
expect 0 "recorded trace validates" -- "$PROMOE" trace info --json "$tmp/rec.h5"
contains '"tokens":13,"prefill_tokens":5,"decode_tokens":8,"requests":2,"iterations":10' "$tmp/out" "recorded trace shape"
expect 0 "sim replays it" -- "$PROMOE" sim -t "$tmp/rec.h5" -c 0.5 --system reactive-lru --json
expect 0 "predictors read its hidden states" -- "$PROMOE" predict eval -t "$tmp/rec.h5" -p gate-reuse --stride 1 --split 0
expect 2 "exec bad ids" -- "$PROMOE" exec -m tiny --prompt-ids 1,300
contains "'300' is not a list of token ids in \[0, 256)" "$tmp/err" "exec ids message"
expect 2 "exec without prompts" -- "$PROMOE" exec -m tiny
expect 1 "exec weights absent" -- "$PROMOE" exec -m tiny --prompt-ids 1 --weights "$tmp/no-model-dir"
contains "no-model-dir: no such file or folder" "$tmp/err" "exec absent weights message"
printf '{"question": "no prompt here"}\n' >"$tmp/bad.jsonl"
expect 1 "exec bad prompts file" -- "$PROMOE" exec -m tiny --prompts "$tmp/bad.jsonl"
contains 'bad.jsonl:1: no prompt: expected "ids", "turns" or "prompt"' "$tmp/err" "exec prompts message"
printf '{"turns": ["Hello there", "again"]}\n{"ids": [5, 6]}\n' >"$tmp/p.jsonl"
expect 0 "exec text and id prompts" -- "$PROMOE" exec -m tiny --prompts "$tmp/p.jsonl" -n 2 --json
contains '"prefill_tokens":13' "$tmp/out" "11 bytes of text and 2 ids"

# a checkpoint: the weights saved as safetensors and loaded back run alike
expect 0 "exec saving its weights" -- "$PROMOE" exec -m tiny --prompt-ids 1,2,3 -n 5 --save-weights "$tmp/tiny.safetensors" --json
cp "$tmp/out" "$tmp/synthetic.json"
expect 0 "exec from a checkpoint" -- "$PROMOE" exec -m tiny --prompt-ids 1,2,3 -n 5 --weights "$tmp/tiny.safetensors" --json
[ "$(outputs "$tmp/out")" = "$(outputs "$tmp/synthetic.json")" ] &&
  passes=$((passes + 1)) || { echo "FAIL: the saved checkpoint runs differently"; fails=$((fails + 1)); }
head -c 5000 "$tmp/tiny.safetensors" >"$tmp/cut.safetensors"
expect 1 "exec from a cut checkpoint" -- "$PROMOE" exec -m tiny --prompt-ids 1 --weights "$tmp/cut.safetensors"

# exec --cache: the executor's offloading is decided by the simulator's
# decision engine (offload/engine.c), fed the run's real events; with
# --check-decisions the run's event log, replayed through a fresh engine,
# decides the same one by one (equal digests), for every policy, scope and
# system the executor runs; and offloading changes no output
# a run's "decisions_digest replayed_digest"
digests() {
  for key in decisions_digest replayed_digest; do
    sed -n "s/.*\"$key\":\"\([0-9a-f]*\)\".*/\1/p" "$1"
  done | tr '\n' ' '
}
# 1 if JSON file $1 has integer $2 above 0
positive() { grep -q "\"$2\":[1-9]" "$1"; }
"$PROMOE" exec -m tiny --prompt-ids 1,2,3 --prompt-ids 9,8 -n 5 --json >"$tmp/resident.json" 2>&1
check_replayed() { # $1: what ran
  set -- "$1" $(digests "$tmp/out") "" ""
  [ -n "$2" ] && [ "$2" = "$3" ] && passes=$((passes + 1)) ||
    { echo "FAIL: exec ($1): decisions $2, replayed $3"; fails=$((fails + 1)); }
  [ "$(outputs "$tmp/out")" = "$(outputs "$tmp/resident.json")" ] &&
    passes=$((passes + 1)) || { echo "FAIL: offloading ($1) changed the output"; fails=$((fails + 1)); }
}
for run in "lru global" "lfu global" "fifo global" "lru per-layer" "lru-k per-layer"; do
  set -- $run
  expect 0 "exec offloaded ($1, $2)" -- "$PROMOE" exec -m tiny --prompt-ids 1,2,3 --prompt-ids 9,8 -n 5 \
    -c 0.5 --policy "$1" --cache-scope "$2" --check-decisions --json
  check_replayed "$run"
done
expect 0 "exec --check-decisions in words" -- "$PROMOE" exec -m tiny --prompt-ids 1,2,3 -n 3 -c 0.5 --check-decisions
contains "decisions checked: the replay of the run's events decides the same" "$tmp/out" "check in words"
expect 2 "exec --check-decisions without a cache" -- "$PROMOE" exec -m tiny --prompt-ids 1,2,3 --check-decisions
contains "give --cache SIZE" "$tmp/err" "check without a cache"
# the executor and the timed simulator are one engine: where no decision
# depends on when a copy ends (no prefetching), the simulator replaying
# the trace a run recorded makes the run's decisions one by one
for run in "reactive-lru lru global" "reactive-lru lfu per-layer" "static static per-layer"; do
  set -- $run
  policy=$2
  [ $1 = static ] && policy="static:spare=2,trace=$tmp/rec.h5"
  expect 0 "exec $run recorded" -- "$PROMOE" exec -m tiny --prompt-ids 1,2,3,4,5,6 --prompt-ids 9,8 -n 6 \
    --system $1 --train "$tmp/rec.h5" --policy "$policy" --cache-scope $3 -c 0.5 -o "$tmp/one.h5" --json
  cp "$tmp/out" "$tmp/exec.json"
  expect 0 "sim $run on the recorded run" -- "$PROMOE" sim -t "$tmp/one.h5" -m tiny --system $1 \
    --train "$tmp/rec.h5" --policy "$policy" --cache-scope $3 -c 0.5 --json
  set -- "$run" $(digests "$tmp/exec.json") $(digests "$tmp/out") "" ""
  [ -n "$2" ] && [ "$2" = "$3" ] && passes=$((passes + 1)) ||
    { echo "FAIL: $1: exec decided $2, sim on its trace $3"; fails=$((fails + 1)); }
done
# named systems the executor runs: static's fixed set is learned from a
# trace; the prefetching systems' predictors (trained on rec.h5, which has
# the hidden states) prefetch, and chunked, preempted copies are replayed too
# (promoe-adaptive weighs each prefetch against measured times, so how many
# it issues depends on the machine's load: its predictions must reach the
# engine, issued or declined)
for sys in static promoe promoe-adaptive mixtral-offloading moe-infinity; do
  expect 0 "exec --system $sys" -- "$PROMOE" exec -m tiny --prompt-ids 1,2,3 --prompt-ids 9,8 -n 5 \
    --system $sys --train "$tmp/rec.h5" -c 0.25 --check-decisions --json
  contains "\"system\":\"$sys\"" "$tmp/out" "exec reports the system"
  check_replayed "$sys"
  decided=prefetch_issued
  if [ $sys = promoe-adaptive ] && ! positive "$tmp/out" prefetch_issued; then
    decided=prefetch_declined; fi
  [ $sys = static ] || { positive "$tmp/out" $decided && passes=$((passes + 1)) ||
    { echo "FAIL: exec ($sys) prefetched nothing"; fails=$((fails + 1)); }; }
done
# hidden states of one layer in 2: marked in the file; predictors that
# need every layer refuse it, systems fall back past them
expect 0 "exec --record-hidden=2" -- "$PROMOE" exec -m tiny --prompt-ids 1,2,3 -n 4 -o "$tmp/h2.h5" --record-hidden=2
expect 0 "trace info of every 2nd layer" -- "$PROMOE" trace info --json "$tmp/h2.h5"
contains '"hidden_layer_stride":2' "$tmp/out" "hidden layer stride in trace info"
expect 1 "gate-reuse on every 2nd layer" -- "$PROMOE" predict eval -t "$tmp/h2.h5" -p gate-reuse --stride 1 --split 0
contains "needs every layer's hidden state, and the trace holds one layer in 2" "$tmp/err" "every-2nd-layer message"
expect 0 "a system falls back on every 2nd layer" -- "$PROMOE" sim -t "$tmp/h2.h5" -c 0.5 --system mixtral-offloading --json
contains '"predictor":"cross-layer"' "$tmp/out" "fallback past gate-reuse"
expect 0 "exec --system promoe without training data" -- "$PROMOE" exec -m tiny --prompt-ids 1 --system promoe -c 0.5
contains "system promoe prefers predictor learned, which needs training data" "$tmp/err" "exec promoe fallback note"
expect 1 "exec --system fiddler" -- "$PROMOE" exec -m tiny --prompt-ids 1 --system fiddler -c 0.5
contains "system fiddler needs misses computed on the CPU, which the executor does not run" "$tmp/err" "exec unsupported system message"
expect 2 "exec oracle" -- "$PROMOE" exec -m tiny --prompt-ids 1 -c 0.5 --predictor oracle
contains "predictor oracle reads the future" "$tmp/err" "exec oracle message"
expect 2 "exec predictor without a cache" -- "$PROMOE" exec -m tiny --prompt-ids 1 --predictor gate-reuse
expect 2 "exec --system static without --train" -- "$PROMOE" exec -m tiny --prompt-ids 1 --system static -c 0.5
# one option table: exec takes sim's offloading options, and refuses in one
# line what it lacks the machinery for, named or not
expect 1 "exec --staging" -- "$PROMOE" exec -m tiny --prompt-ids 1 -c 0.5 --staging 1
contains "the executor does not run staging buffers" "$tmp/err" "exec --staging message"
expect 1 "exec --system promoe --lowbit-on-miss" -- "$PROMOE" exec -m tiny --prompt-ids 1 -c 0.5 --system promoe --lowbit-on-miss "weight<0.2"
contains "system promoe needs low-precision loads, which the executor does not run" "$tmp/err" "exec low-bit message"
expect 2 "exec bad --stride" -- "$PROMOE" exec -m tiny --prompt-ids 1 -c 0.5 --stride 0
contains "exec: --stride: stride = '0' is not an integer in \[1, 1024\]" "$tmp/err" "exec --stride message"
expect 0 "exec --prefetch-by-gain" -- "$PROMOE" exec -m tiny --prompt-ids 1,2,3 -n 3 -c 0.5 --predictor gate-reuse --prefetch-by-gain --chunks 2 --json
contains '"decisions_digest"' "$tmp/out" "exec --prefetch-by-gain runs"
expect 2 "exec belady" -- "$PROMOE" exec -m tiny --prompt-ids 1 -c 0.5 --policy belady
contains "policy belady reads the future" "$tmp/err" "exec belady message"
expect 2 "exec cache too large" -- "$PROMOE" exec -m tiny --prompt-ids 1 -c 100
contains "is larger than the model's 32 experts" "$tmp/err" "exec cache size message"

# promoe systems tells the truth: every preset listed, in sim --help too;
# each it says exec runs runs, each it says exec lacks is refused, and a
# system that needs --train refuses to run without it
presets=$(cd "$PROMOE_SRCDIR/systems" && ls -- *.ini | sed 's/\.ini$//')
expect 0 "systems" -- "$PROMOE" systems --json
[ "$(wc -l <"$tmp/out")" -eq "$(echo "$presets" | wc -l)" ] && ok || fail "systems lists $(wc -l <"$tmp/out") of $(echo "$presets" | wc -l) presets"
cp "$tmp/out" "$tmp/systems.json"
"$PROMOE" sim --help >"$tmp/simhelp"
for name in $presets; do
  grep -q "^  $name  *[a-zA-Z]" "$tmp/simhelp" && ok || fail "sim --help has no line for $name"
  line=$(grep "\"name\":\"$name\"" "$tmp/systems.json")
  if echo "$line" | grep -q '"exec":true'; then want=0; else want=1; fi
  "$PROMOE" exec -m tiny --prompt-ids 1,2 -n 2 --system "$name" -c 0.5 --train "$tmp/rec.h5" >/dev/null 2>"$tmp/err"
  got=$?
  [ "$got" -eq 0 ] && [ "$want" -eq 0 ] || { [ "$got" -ne 0 ] && [ "$want" -eq 1 ]; } && ok ||
    fail "systems says exec $( [ $want -eq 0 ] && echo runs || echo lacks) $name, exec exits $got: $(cat "$tmp/err")"
  if echo "$line" | grep -q '"needs":"--train'; then
    if echo "$line" | grep -q 'learns its fixed experts'; then
      expect 2 "$name without --train" -- "$PROMOE" sim -t "$tmp/rec.h5" -c 0.5 --system "$name"
    else
      expect 0 "$name without --train falls back" -- "$PROMOE" sim -t "$tmp/rec.h5" -c 0.5 --system "$name"
      contains "prefers predictor" "$tmp/err" "$name fallback note"
    fi
  fi
done
expect 0 "systems, text" -- "$PROMOE" systems
contains "^promoe-plus .*" "$tmp/out" "systems text"
contains "    runs in sim only; exec lacks staging buffers" "$tmp/out" "systems says why"

# profile: this machine's times, as the table sim --profile reads
expect 0 "profile" -- "$PROMOE" profile -m tiny --reps 3 --context 16 -o "$tmp/hw.json"
contains '"format":"promoe-profile","version":1,"model":"tiny"' "$tmp/hw.json" "profile header"
contains '"attention_context":16' "$tmp/hw.json" "profile context"
for table in attention attention_start router expert transfer step_fixed; do
  contains "\"$table\":\[\[" "$tmp/hw.json" "profile table $table"
done
# the cpu backend batches a step's tokens: its tables are measured at
# 1, 2, 4, ..., 64 tokens, not scaled from one
contains '"expert":\[\[1,[0-9.e-]*\],\[2,' "$tmp/hw.json" "profile at several token counts"
expect 0 "sim priced by the profile" -- "$PROMOE" sim -t "$tmp/rec.h5" -c 0.5 --system reactive-lru --profile "$tmp/hw.json" --json
expect 2 "profile without output" -- "$PROMOE" profile -m tiny
# the cuda backend: refused by a build without CUDA (usage), failing
# cleanly without a GPU; where one is, tests/test_cuda checks it
if ! "$PROMOE" version | grep -q "CUDA support: built"; then
  expect 2 "profile on cuda, not built" -- "$PROMOE" profile -m tiny --backend cuda -o "$tmp/x.json"
  contains "this build has no CUDA" "$tmp/err" "no CUDA message"
elif ! "$PROMOE" exec -m tiny --prompt-ids 1 --backend cuda >/dev/null 2>&1; then
  expect 1 "exec on cuda, no GPU" -- "$PROMOE" exec -m tiny --prompt-ids 1 --backend cuda
  contains "no CUDA device" "$tmp/err" "no GPU message"
fi

# Training a predictor, saving it, using the file.
expect 2 "train without output" -- "$PROMOE" predict train -t "$tmp/t.h5" -p learned
expect 2 "train a predictor with nothing to save" -- "$PROMOE" predict train -t "$tmp/t.h5" -p prev-token -o "$tmp/p.h5"
contains "has nothing to save" "$tmp/err" "nothing to save message"
expect 2 "train= in the options" -- "$PROMOE" predict train -t "$tmp/t.h5" -p learned:train=x.h5 -o "$tmp/p.h5"
expect 0 "train" -- "$PROMOE" predict train -t "$tmp/t.h5" -p learned:stride=1,hidden=8,epochs=1 --split 0.5 -o "$tmp/p.h5" --json
contains '"stride_lo":1,"stride_hi":1' "$tmp/out" "train figures"
contains '"held_out":\[{"stride":1' "$tmp/out" "train held-out scores"
expect 0 "eval a saved predictor" -- "$PROMOE" predict eval -t "$tmp/t.h5" -p "learned:file=$tmp/p.h5" --stride 1 --split 0.5 --csv
contains "learned:file=" "$tmp/out" "eval of the saved predictor"
contains "^predictor,.*,lead_ms,fetch_rate,goodpred,ahead_one_layer$" "$tmp/out" "eval CSV timing columns"
expect 0 "eval an ensemble as CSV" -- "$PROMOE" predict eval -t "$tmp/t.h5" -p "ensemble:a=prev-token,b=popularity,w=0.5" --stride 1 --csv
contains '^"ensemble:a=prev-token,b=popularity,w=0.5",1,' "$tmp/out" "a spec with commas is one quoted CSV field"
# --per-layer --csv: a row per target layer whose counts add up to the
# stride's row (a second way to the same precision)
expect 0 "eval per layer as CSV" -- "$PROMOE" predict eval -t "$tmp/t.h5" -p prev-token --stride 2 --split 0 --per-layer --csv
contains "^predictor,stride,layer,precision,recall,predicted,chosen$" "$tmp/out" "per-layer CSV header"
"$PROMOE" predict eval -t "$tmp/t.h5" -p prev-token --stride 2 --split 0 --csv >"$tmp/whole"
layers=$(awk -F, 'NR > 1 { n++; c += $4 * $6; p += $6 } END { printf "%d %.4f", n, c / p }' "$tmp/out")
whole=$(awk -F, 'NR == 2 { printf "%.4f", $5 }' "$tmp/whole")
layers_want=$(($("$PROMOE" trace info --json "$tmp/t.h5" | sed 's/.*"num_layers":\([0-9]*\).*/\1/') - 2))
if [ "$layers" = "$layers_want $whole" ]; then passes=$((passes + 1)); else
  echo "FAIL: per-layer rows '$layers', expected '$layers_want $whole'"; fails=$((fails + 1)); fi
expect 0 "eval timing" -- "$PROMOE" predict eval -t "$tmp/t.h5" -p prev-token --stride 1 --predictor-us 200 --set pcie_gbps=12
contains "timing: tiny on rtx4090-pcie4, an expert copy 0.009 ms" "$tmp/out" "eval timing line (48 KiB over 12 GB/s + 5 us)"
contains "GoodPred" "$tmp/out" "eval GoodPred column"
expect 2 "eval unknown model" -- "$PROMOE" predict eval -t "$tmp/t.h5" -p prev-token --model gpt5
expect 2 "eval bad --set" -- "$PROMOE" predict eval -t "$tmp/t.h5" -p prev-token --set warp=9
expect 1 "eval a stride the file lacks" -- "$PROMOE" predict eval -t "$tmp/t.h5" -p "learned:file=$tmp/p.h5" --stride 2
contains "has models for stride 1 only, not 2" "$tmp/err" "missing stride message"
expect 0 "sim with a saved predictor" -- "$PROMOE" sim -t "$tmp/t.h5" -c 0.5 --predictor "learned:file=$tmp/p.h5" --json
contains '"goodpred":' "$tmp/out" "sim reports GoodPred"
expect 0 "gen mixtral ids" -- "$PROMOE" trace gen --requests 1 --prompt-mean 4 --output-mean 4 --ids-only -o "$tmp/m.h5"
expect 0 "sim promoe-plus" -- "$PROMOE" sim -t "$tmp/m.h5" -c 0.5 --system promoe-plus --json
contains '"staging":1,"chunks_per_expert":11' "$tmp/out" "promoe-plus: a staging buffer, 32 MiB chunks of a 336 MiB expert"

# --bits: a Mixtral expert is 3 x 4096 x 14336 weights, 352,321,536 bytes at
# 16 bits: 12 GiB holds 36 of them; at 8 bits, 73
expect 0 "sim --bits 8" -- "$PROMOE" sim -t "$tmp/m.h5" -c 12GiB --bits 8 --json
contains '"cache_slots":73' "$tmp/out" "12 GiB of 8-bit Mixtral experts"
contains '"bits":8' "$tmp/out" "bits reported"
expect 0 "sim 16 bits" -- "$PROMOE" sim -t "$tmp/m.h5" -c 12GiB --json
contains '"cache_slots":36' "$tmp/out" "12 GiB of 16-bit Mixtral experts"
expect 2 "--bits with --hits-only and no model" -- "$PROMOE" sim -t "$tmp/m.h5" -c 0.5 --hits-only --bits 4
expect 2 "static without --train" -- "$PROMOE" sim -t "$tmp/m.h5" -c 0.5 --system static
contains "give --train T.h5" "$tmp/err" "static asks for a training trace"
expect 0 "static" -- "$PROMOE" sim -t "$tmp/m.h5" -c 0.5 --system static --train "$tmp/m.h5" --json
contains '"policy":"static"' "$tmp/out" "static runs the static policy"
expect 0 "um" -- "$PROMOE" sim -t "$tmp/m.h5" -c 0.5 --system um --json
contains '"chunks_per_expert":168,"fault_us":25' "$tmp/out" "um: 352 MiB experts in 2 MiB pages, 25 us a fault"
# to and lo on Mixtral: a layer is 8 experts of 352,321,536 B plus 83,951,616 B
# of attention and router weights, 2,902,523,904 B; 50% of the experts plus
# every layer's non-expert weights, 47,783,608,320 B, hold 16.46 layers: 16
# for lo, 14 beside two streaming buffers for to
expect 0 "lo" -- "$PROMOE" sim -t "$tmp/m.h5" -c 0.5 --system lo --json
contains '"layer_offload":"cpu"' "$tmp/out" "lo computes on the CPU"
contains '"resident_layers":16' "$tmp/out" "lo keeps 16 Mixtral layers"
expect 0 "to" -- "$PROMOE" sim -t "$tmp/m.h5" -c 0.5 --system to --json
contains '"layer_offload":"stream"' "$tmp/out" "to streams layers"
contains '"resident_layers":14' "$tmp/out" "to keeps 14 Mixtral layers"
expect 1 "hobbit on a trace without gate weights" -- "$PROMOE" sim -t "$tmp/m.h5" -c 0.5 --system hobbit
contains "low-precision loads on a miss (HOBBIT): .*no routing/weights" "$tmp/err" "hobbit needs weights"

expect 2 "monde without a training trace" -- "$PROMOE" sim -t "$tmp/m.h5" -c 0.5 --system monde
contains "system monde: its static policy learns its fixed experts from a trace: give --train" "$tmp/err" "monde needs --train"
expect 0 "monde" -- "$PROMOE" sim -t "$tmp/m.h5" -c 0.5 --system monde --train "$tmp/m.h5" --json
contains '"policy":"static"' "$tmp/out" "monde's static policy"
contains '"cpu_compute":2' "$tmp/out" "monde computes misses in place"
expect 2 "bad --cpu-compute" -- "$PROMOE" sim -t "$tmp/m.h5" -c 0.5 --cpu-compute=never

finish test_cli
