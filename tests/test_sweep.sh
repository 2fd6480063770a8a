#!/bin/sh
# `promoe sweep` as a user runs it: a grid run N at a time, a failed point
# recorded and the sweep going on, the same rows from -j 1 and -j 2, a
# sweep killed with SIGKILL resuming without losing or repeating a point,
# one writer per journal, and `sweep summarize` checked against awk.
. "$(dirname "$0")/testlib.sh"

# column NAME FILE: the values of CSV column NAME, one a line (no quoted commas here)
column() {
  awk -F, -v name="$1" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == name) c = i; next }
                        { print $c }' "$2"
}
cat >"$tmp/grid.sweep" <<'EOF'
[sweep]
description = sweep test
run = sim --trace {trace} --system {system} --cache {cache}

[grid]
system = reactive-lru, oracle, no-such-system
cache = 0.25, 0.5
seed = 1, 2

[quick]
seed = 1

[inputs]
trace = trace gen --requests 2 --prompt-mean 8 --output-mean 8 --seed {seed} -o {output}
EOF

# -j 2: 12 points, the 4 of the unknown system fail, the rest go on
"$PROMOE" sweep "$tmp/grid.sweep" -j 2 --results "$tmp/r2" 2>"$tmp/err"
[ $? -eq 1 ] && ok || fail "a sweep with failed points should exit 1"
grep -q "12 points: 0 recorded before, 12 ran (8 ok, 4 failed)" "$tmp/err" && ok ||
  { fail "summary line"; cat "$tmp/err"; }
# (with -j 2 any of the four may fail first)
grep -q "first failure: system=no-such-system cache=[0-9.]* seed=[12]: promoe sim: unknown system" "$tmp/err" &&
  ok || { fail "first failure line"; cat "$tmp/err"; }
[ "$(wc -l <"$tmp/r2/grid.csv")" -eq 13 ] && ok || fail "grid.csv should have 12 rows + header"
[ "$(column status "$tmp/r2/grid.csv" | grep -c failed)" -eq 4 ] && ok || fail "4 failed rows"
[ "$(ls "$tmp/r2/inputs" | wc -l)" -eq 2 ] && ok || fail "one input per seed: 2"

# -j 1 elsewhere: the same rows
"$PROMOE" sweep "$tmp/grid.sweep" -j 1 --results "$tmp/r1" 2>/dev/null
comparable "$tmp/r1/grid.jsonl" >"$tmp/c1"
comparable "$tmp/r2/grid.jsonl" >"$tmp/c2"
cmp -s "$tmp/c1" "$tmp/c2" && ok || { fail "-j 1 and -j 2 rows differ"; diff "$tmp/c1" "$tmp/c2" | head; }

# again: nothing left but the failed points; --keep-failed: nothing at all
"$PROMOE" sweep "$tmp/grid.sweep" -j 2 --results "$tmp/r2" 2>"$tmp/err"
grep -q "12 points: 8 recorded before, 4 ran (0 ok, 4 failed)" "$tmp/err" && ok ||
  { fail "rerun should retry only the failed points"; cat "$tmp/err"; }
"$PROMOE" sweep "$tmp/grid.sweep" --keep-failed --results "$tmp/r2" 2>"$tmp/err"
[ $? -eq 0 ] && grep -q "12 recorded before, 0 ran" "$tmp/err" && ok ||
  { fail "--keep-failed should run nothing"; cat "$tmp/err"; }

# --dry-run shows the state of each point and its command
"$PROMOE" sweep "$tmp/grid.sweep" -n --results "$tmp/r2" >"$tmp/out"
[ "$(grep -c '^done ' "$tmp/out")" -eq 8 ] && [ "$(grep -c '^failed ' "$tmp/out")" -eq 4 ] &&
  grep -q "promoe sim --trace $tmp/r2/inputs/trace-.*h5 --system oracle --cache 0.5" "$tmp/out" &&
  ok || { fail "dry run"; cat "$tmp/out"; }

# --quick: the [quick] grid, into grid-quick.*
"$PROMOE" sweep "$tmp/grid.sweep" --quick --results "$tmp/r2" 2>/dev/null
[ "$(wc -l <"$tmp/r2/grid-quick.csv")" -eq 7 ] && ok || fail "--quick: 6 rows + header"

# summarize: the mean per system against awk's, and a speedup of 1 over itself
"$PROMOE" sweep summarize "$tmp/r1/grid.csv" --metric decode_tpot_ms_mean --by system \
  >"$tmp/sum" 2>"$tmp/err" && ok || { fail "summarize"; cat "$tmp/err"; }
want=$(awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) { if ($i == "decode_tpot_ms_mean") m = i;
                                                    if ($i == "system") s = i } next }
                $s == "oracle" { t += $m; n++ } END { printf "%.4f", t / n }' "$tmp/r1/grid.csv")
got=$(awk '$1 == "oracle" { printf "%.4f", $3 }' "$tmp/sum")
[ "$(awk '$1 == "oracle" { print $2 }' "$tmp/sum")" = 4 ] && [ "$want" = "$got" ] && ok ||
  { fail "summarize mean: awk $want, promoe $got"; cat "$tmp/sum"; }
head -1 "$tmp/sum" | grep -qx "# system n mean lo hi sd" && ok || fail "summarize header"
"$PROMOE" sweep summarize "$tmp/r1/grid.jsonl" --metric decode_tpot_ms_mean --by system \
  --speedup-over system=reactive-lru >"$tmp/sum" 2>/dev/null
awk '$1 == "reactive-lru" && $3 == 1 && $6 == 0 { found = 1 } END { exit !found }' "$tmp/sum" &&
  ok || { fail "speedup of the baseline over itself is 1"; cat "$tmp/sum"; }

# killed with SIGKILL mid-sweep, then run again: every point once
cat >"$tmp/long.sweep" <<EOF
[sweep]
run = sim --trace $tmp/long.h5 --system {system} --cache {cache}
[grid]
system = reactive-lru, oracle, mixtral-offloading, moe-infinity
cache = 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95
EOF
"$PROMOE" trace gen --requests 4 --prompt-mean 16 --output-mean 32 --seed 3 -o "$tmp/long.h5" 2>/dev/null
"$PROMOE" sweep "$tmp/long.sweep" --results "$tmp/rk" 2>/dev/null &
pid=$!
i=0
while [ "$(cat "$tmp/rk/long.jsonl" 2>/dev/null | wc -l)" -lt 5 ] && [ $i -lt 400 ]; do
  sleep 0.02; i=$((i + 1))
done
kill -KILL $pid 2>/dev/null
wait $pid 2>/dev/null
before=$(wc -l <"$tmp/rk/long.jsonl")
[ "$before" -ge 5 ] && [ "$before" -lt 40 ] && ok ||
  echo "note: the kill came at $before of 40 points (the machine was too fast or too slow)"
printf '{"point":"system=oracle cache=0.15","row":0,"ro' >>"$tmp/rk/long.jsonl" # a torn write
"$PROMOE" sweep "$tmp/long.sweep" --results "$tmp/rk" 2>"$tmp/err"
[ $? -eq 0 ] && grep -q "40 points: $before recorded before, $((40 - before)) ran" "$tmp/err" && ok ||
  { fail "resume after SIGKILL"; cat "$tmp/err"; }
[ "$(wc -l <"$tmp/rk/long.jsonl")" -eq 40 ] && ok || fail "journal should hold 40 rows, no repeats"
[ "$(column point "$tmp/rk/long.csv" | sort -u | wc -l)" -eq 40 ] && ok || fail "40 distinct points"

# one writer per journal
if command -v flock >/dev/null; then
  flock "$tmp/rk/long.jsonl" sleep 3 &
  sleep 0.5
  "$PROMOE" sweep "$tmp/long.sweep" --results "$tmp/rk" 2>"$tmp/err"
  [ $? -eq 1 ] && grep -q "another promoe sweep is writing these results" "$tmp/err" && ok ||
    { fail "a second writer should be refused"; cat "$tmp/err"; }
  wait
fi

# errors: one line, the right status
"$PROMOE" sweep "$tmp/absent.sweep" 2>"$tmp/err"
[ $? -eq 1 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q "absent.sweep" "$tmp/err" && ok ||
  { fail "missing sweep file"; cat "$tmp/err"; }
"$PROMOE" sweep "$tmp/grid.sweep" --task 1 2>"$tmp/err"
[ $? -eq 2 ] && grep -q -- "--task needs --tasks" "$tmp/err" && ok || fail "--task without --tasks"
"$PROMOE" sweep summarize "$tmp/r1/grid.csv" 2>"$tmp/err"
[ $? -eq 2 ] && grep -q -- "--metric is required" "$tmp/err" && ok || fail "summarize without --metric"
"$PROMOE" sweep summarize "$tmp/r1/grid.csv" --metric nope 2>"$tmp/err"
[ $? -eq 1 ] && grep -q "no results row has a column 'nope'" "$tmp/err" && ok ||
  { fail "summarize unknown metric"; cat "$tmp/err"; }

finish test_sweep
