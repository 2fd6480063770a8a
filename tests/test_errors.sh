#!/bin/sh
# docs/errors.md, checked: every message in its table is made to happen
# here (the exit status, one line on stderr, the message with '...' for
# the parts that vary), and every message tried here is in the table.
. "$(dirname "$0")/testlib.sh"
srcdir=$(cd "$(dirname "$0")/.." && pwd)
doc=$srcdir/docs/errors.md
: >"$tmp/tried"

# matches LINE PATTERN: PATTERN's pieces between '...' appear in LINE, in order
matches() {
  awk -v line="$1" -v pat="$2" 'BEGIN {
    n = split(pat, piece, /\.\.\./)
    for (i = 1; i <= n; i++) {
      if (piece[i] == "") continue
      at = index(line, piece[i])
      if (at == 0) exit 1
      line = substr(line, at + length(piece[i]))
    }
    exit 0 }'
}

# error STATUS 'MESSAGE' -- COMMAND...: runs it; checks the status, that
# stderr is one line starting with "promoe", and that it shows MESSAGE
error() {
  want=$1; msg=$2; shift 3
  printf '%s\n' "$msg" >>"$tmp/tried"
  "$@" >/dev/null 2>"$tmp/err"
  got=$?
  line=$(cat "$tmp/err")
  if [ "$got" -ne "$want" ]; then fail "'$msg': exit $got, expected $want ($line)"
  elif [ "$(wc -l <"$tmp/err")" -ne 1 ] || [ "${line#promoe}" = "$line" ]; then
    fail "'$msg': not one 'promoe...' line: $line"
  elif ! matches "$line" "$msg"; then fail "'$msg' not in: $line"
  else ok; fi
}

P=$PROMOE
"$P" trace gen -m tiny --requests 2 --hidden-dim 8 -o "$tmp/t.h5" >/dev/null 2>&1 || fail "gen"
"$P" trace gen -m tiny --requests 2 --ids-only -o "$tmp/ids.h5" >/dev/null 2>&1 || fail "gen ids"
"$P" predict train -t "$tmp/t.h5" -p learned:stride=1,hidden=8,epochs=1 -o "$tmp/p.h5" >/dev/null 2>&1 ||
  fail "train"

error 2 "unknown command '...'" -- "$P" frobnicate
error 2 "unknown option '...'" -- "$P" sim --frob
error 2 "option '...' needs a value" -- "$P" sim -t
error 2 "expected an integer in [..., ...], got '...'" -- "$P" trace gen --requests lots -o "$tmp/x.h5"
error 2 "no trace: give --trace T.h5" -- "$P" sim -c 0.5

error 1 "...: no such file" -- "$P" trace info "$tmp/absent.h5"
printf 'not hdf5\n' >"$tmp/text.h5"
error 1 "...: not an HDF5 file" -- "$P" trace info "$tmp/text.h5"
head -c 3000 "$tmp/t.h5" >"$tmp/cut.h5"
error 1 "...: cannot open HDF5 file (truncated or corrupt)" -- "$P" trace info "$tmp/cut.h5"
error 1 "...: not a promoe trace (format attribute is '...')" -- "$P" trace info "$tmp/p.h5"
printf '{"tok": 0, "layers": [[1, 2], [3, 70]]}\n' >"$tmp/far.jsonl"
error 1 "...:...: expert id ... out of range [0, ...) (check --experts or -m)" -- \
  "$P" trace import --format warp-jsonl --experts 64 "$tmp/far.jsonl" -o "$tmp/x.h5"
error 2 "... ... disagrees with model ... (... ...): drop ... or fix -m" -- \
  "$P" trace import --format warp-jsonl -m tiny --experts 64 "$tmp/far.jsonl" -o "$tmp/x.h5"
printf '{"tok": 0, "layers": [[1, 2], [3, 4]]}\n' >"$tmp/two.jsonl"
error 1 "...: the data has ... MoE layers but model ... has ... (is -m right?)" -- \
  "$P" trace import --format warp-jsonl -m tiny "$tmp/two.jsonl" -o "$tmp/x.h5"
printf '{"tok": 0, "layers": [[1], [3], [4], [5]]}\n' >"$tmp/top1.jsonl"
error 1 "...: the data chooses up to ... experts a layer but model ... has top-k ... (is -m right?)" -- \
  "$P" trace import --format warp-jsonl -m tiny "$tmp/top1.jsonl" -o "$tmp/x.h5"
printf '{"tok": 0, "layers": [[1, 2], [3, 4]]\n' >"$tmp/cut.jsonl"
error 1 "...:...: invalid JSON: ..." -- \
  "$P" trace import --format warp-jsonl --experts 64 "$tmp/cut.jsonl" -o "$tmp/x.h5"

error 2 "unknown policy '...' (policies: ...)" -- "$P" sim -t "$tmp/t.h5" -c 0.5 -p nope
error 2 "unknown predictor '...' (predictors: ...)" -- "$P" sim -t "$tmp/t.h5" -c 0.5 --predictor nope
error 2 "unknown system '...' (presets: ..." -- "$P" sim -t "$tmp/t.h5" -c 0.5 --system nope
error 2 "unknown model '...' (presets: ..." -- "$P" sim -t "$tmp/t.h5" -c 0.5 -m nope
error 2 "unknown hardware '...' (presets: ..." -- "$P" sim -t "$tmp/t.h5" -c 0.5 --hw nope
error 2 "--set unknown key '...' (keys: ...)" -- "$P" sim -t "$tmp/t.h5" -c 0.5 --set warp=1
sed 's/num_experts = 8/num_experts = 1000000000/' "$srcdir/models/tiny.ini" >"$tmp/many.ini"
error 1 "...: num_experts = '...' is not an integer in [1, 32767]" -- \
  "$P" trace gen -m "$tmp/many.ini" --requests 1 -o "$tmp/x.h5"

error 2 "cache size '...' (... experts) is larger than the model's ... experts" -- \
  "$P" sim -t "$tmp/t.h5" -c 100
error 2 "cache size '...': a share of the experts must be in (0, 1] (a number of slots is written with digits only, like 256)" -- \
  "$P" sim -t "$tmp/t.h5" -c 1.5
error 2 "cache size '...': a percentage of the experts must be in (0, 100]" -- \
  "$P" sim -t "$tmp/t.h5" -c 150%
error 2 "cache size '...' holds no expert" -- "$P" sim -t "$tmp/t.h5" -c 0
error 1 "a per-layer cache needs at least one slot per layer (... slots, ... layers)" -- \
  "$P" sim -t "$tmp/t.h5" -c 2 --cache-scope per-layer
error 2 "cache size (a share of the experts like 0.25, 1.0 or 25%, a whole number of slots like 256, or bytes like 12GiB): '...' is not a positive size" -- \
  "$P" sim -t "$tmp/t.h5" -c -3
# 1024 layers x 32767 experts x 65536-wide hidden states: petabytes of routers
sed 's/num_layers = 4/num_layers = 1024/; s/num_experts = 8/num_experts = 32767/' \
  "$srcdir/models/tiny.ini" >"$tmp/wide.ini"
error 1 "needs ... GiB, more than this machine's ... GiB of memory" -- \
  "$P" trace gen -m "$tmp/wide.ini" --hidden-dim 65536 --requests 1 -o "$tmp/x.h5"
error 1 "needs about ... GiB, more than the ... GiB free on its file system (write it elsewhere, or make it smaller)" -- \
  "$P" trace gen -m tiny --requests 100000000 --prompt-mean 100000 -o "$tmp/x.h5"

error 2 "system ...: its ... policy learns its fixed experts from a trace: give --train T.h5" -- \
  "$P" sim -t "$tmp/t.h5" -c 0.5 --system static
error 1 "trace has no hidden/input (hidden states), which this use needs" -- \
  "$P" sim -t "$tmp/ids.h5" -c 0.5 --predictor "learned:train=$tmp/ids.h5"
error 2 "--stride ...: ... has ... layers, so no layer is ... ahead of another (strides 1 to ...)" -- \
  "$P" predict eval -t "$tmp/t.h5" -p prev-token --stride 40
error 1 "has models for stride ... only, not ..." -- \
  "$P" predict eval -t "$tmp/t.h5" -p "learned:file=$tmp/p.h5" --stride 2

printf '[sweep]\nrun = sim {a}\n[grid]\na = %0200d\n' 1 >"$tmp/long.sweep"
error 1 "line of ... characters; sweep files allow 198 a line" -- "$P" sweep "$tmp/long.sweep" -n
printf '[sweep]\nrun = sim {a}\n[grid]\na = 1\n[oops]\nx = 1\n' >"$tmp/oops.sweep"
error 1 "unknown section [...] (sections: sweep, grid, quick, inputs)" -- "$P" sweep "$tmp/oops.sweep" -n
# another writer holds the journal's lock (flock(1) takes the same lock)
printf '[sweep]\nrun = sim --trace %s --hits-only --cache {cache}\n[grid]\ncache = 0.5\n' "$tmp/t.h5" \
  >"$tmp/held.sweep"
mkdir -p "$tmp/results"
touch "$tmp/results/held.jsonl"
flock "$tmp/results/held.jsonl" sleep 30 &
holder=$!
sleep 0.3
error 1 "another promoe sweep is writing these results; wait for it to end" -- \
  "$P" sweep "$tmp/held.sweep" --results "$tmp/results"
kill "$holder" 2>/dev/null
wait "$holder" 2>/dev/null

printf 'layer,expert,hits\n0,0,1\n' >"$tmp/bad.csv"
error 1 "line 1: expected the header 'layer,expert,count'" -- "$P" trace popularity "$tmp/bad.csv"
printf 'layer,expert,count\n0,0,1\n' >"$tmp/counts.csv"
error 1 "has no layer ... (its layers: ...)" -- "$P" trace popularity "$tmp/counts.csv" --layer 3

error 2 "--backend ...: no such backend (this build has: ...)" -- "$P" exec -m tiny --prompt-ids 1 --backend tpu
# one of these two, as the build has CUDA or not (make check-sanitizers
# builds without it, so both are met); the other is listed as tried
nocuda="--backend cuda: this build has no CUDA (configure found no toolkit; install it in ... or give --with-cuda=DIR and build again)"
noplugin="the cuda backend's plugin promoe-cuda.so is not at ... (set PROMOE_CUDA_PLUGIN to its path)"
if "$P" version | grep -q "CUDA support: built"; then
  error 1 "$noplugin" -- env PROMOE_CUDA_PLUGIN=/nonexistent/promoe-cuda.so "$P" exec -m tiny --prompt-ids 1 --backend cuda
  printf '%s\n' "$nocuda" >>"$tmp/tried"
else
  error 2 "$nocuda" -- "$P" exec -m tiny --prompt-ids 1 --backend cuda
  printf '%s\n' "$noplugin" >>"$tmp/tried"
fi
error 1 "system ... needs ..., which the executor does not run" -- \
  "$P" exec -m tiny --prompt-ids 1 -c 0.5 --system hobbit
error 1 "the executor does not run ...; replay a recorded trace in 'promoe sim' with the same options" -- \
  "$P" exec -m tiny --prompt-ids 1 -c 0.5 --cpu-compute
error 2 "predictor ... reads the future, which a running model does not know" -- \
  "$P" exec -m tiny --prompt-ids 1 -c 0.5 --predictor oracle
"$P" exec -m tiny --prompt-ids 1,2 -n 2 -o "$tmp/h3.h5" --record-hidden=3 >/dev/null 2>&1 || fail "exec h3"
error 1 "needs every layer's hidden state, and the trace holds one layer in ..." -- \
  "$P" predict eval -t "$tmp/h3.h5" -p learned --split 0.5

# the table and this test list the same messages
sed -n 's/^| `\([^`]*\)` |.*/\1/p' "$doc" | sort >"$tmp/documented"
sort "$tmp/tried" >"$tmp/tried.sorted"
if cmp -s "$tmp/documented" "$tmp/tried.sorted"; then ok; else
  fail "docs/errors.md and this test differ (< documented only, > tried only):"
  diff "$tmp/documented" "$tmp/tried.sorted" | grep '^[<>]'
fi
[ "$(wc -l <"$tmp/documented")" -ge 30 ] && ok || fail "the table has fewer rows than expected"

finish test_errors
