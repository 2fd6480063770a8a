# testlib.sh - what the shell tests share; sourced, not run.  Sets PROMOE
# (the program), tmp (a folder removed on exit), and counters that ok,
# fail and finish keep.
set -u
PROMOE=${PROMOE:-./promoe}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
passes=0
ok() { passes=$((passes + 1)); }
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# finish NAME: the tally, and the exit status make check reads
finish() {
  echo "$1: $passes passed, $fails failed"
  [ "$fails" -eq 0 ]
}

# comparable JOURNAL: a sweep journal's rows without what differs between
# runs of the same grid (seconds; the trace's path, which names the results
# folder), sorted
comparable() {
  sed -e 's/"seconds":[-+.0-9eE]*//' -e 's/"trace":"[^"]*"//' "$1" | sort
}
