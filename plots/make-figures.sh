#!/bin/sh
# make-figures.sh - runs every sweep of experiments/ (only the points not
# yet done), then every figure script of plots/, into PDF and PNG.
# `make figures` and `make figures-quick` call it.
set -u
usage() {
  cat <<USAGE
usage: plots/make-figures.sh [--quick] [-j N] [--results DIR] [--out DIR]

Runs every experiments/*.sweep (points already done are skipped), then every
plots/*.gp figure script, writing NAME.pdf and NAME.png into the output
folder.  --quick runs the thinned grids (results NAME-quick.*) into OUT/quick.

  --quick          the [quick] grids: every figure in about a minute
  -j N             points run at a time (default: the CPUs)
  --results DIR    results folder (default experiments/results)
  --out DIR        figures folder (default plots/out)
  PROMOE=path      the promoe program (default ./promoe)
USAGE
}
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
PROMOE=${PROMOE:-./promoe}
quick=""
jobs=$(nproc 2>/dev/null || echo 2)
results=$top/experiments/results
out=plots/out
while [ $# -gt 0 ]; do
  case $1 in
    --quick) quick=--quick ;;
    -j) jobs=$2; shift ;;
    --results) results=$2; shift ;;
    --out) out=$2; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "make-figures.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
  shift
done
command -v gnuplot >/dev/null ||
  { echo "make-figures.sh: gnuplot is not installed (Debian: gnuplot-nox)" >&2; exit 1; }
[ -x "$PROMOE" ] || { echo "make-figures.sh: no promoe program at $PROMOE (build it first)" >&2; exit 1; }
PROMOE=$(cd "$(dirname "$PROMOE")" && pwd)/$(basename "$PROMOE")
suffix=""
[ -n "$quick" ] && { suffix=-quick; out=$out/quick; }
mkdir -p "$out" "$results" || exit 1

failed=0
for sweep in "$top"/experiments/*.sweep; do
  "$PROMOE" sweep "$sweep" $quick -j "$jobs" --results "$results" || failed=1
done

for script in "$here"/*.gp; do
  name=$(basename "$script" .gp)
  case $name in style|index|model-bars|speedup-bars|system-lines) continue ;; esac # loaded by the others
  for ext in pdf png; do
    tmp=$out/.$name.tmp
    if gnuplot -e "promoe='$PROMOE'; results='$results'; suffix='$suffix'; out='$tmp'; ext='$ext'; dir='$here'" \
        "$here/style.gp" "$script" 2>"$tmp.err" && [ -s "$tmp.$ext" ] && ! grep -q '^promoe' "$tmp.err"; then
      mv -f "$tmp.$ext" "$out/$name.$ext" # whole figures only
    else
      echo "make-figures.sh: $name.$ext failed:" >&2; cat "$tmp.err" >&2; failed=1
      rm -f "$tmp.$ext"
    fi
    rm -f "$tmp.err"
  done
  echo "make-figures.sh: $out/$name.pdf, .png"
done
[ $failed -eq 0 ] || { echo "make-figures.sh: some sweeps or figures failed (above)" >&2; exit 1; }
