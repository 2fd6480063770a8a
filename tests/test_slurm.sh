#!/bin/sh
# `promoe sweep --slurm` on a real one-node Slurm cluster: munged with a key
# of its own, slurmctld and slurmd on loopback with a configuration written
# here, all under a temporary folder.  Submits a small sweep as a job array,
# waits for it, collects, and compares the rows with a local -j 1 run.
# Every daemon started here is stopped by its pid.  Skips (77) where the
# daemons are not installed or cannot start (Debian: slurm-wlm, munge).
. "$(dirname "$0")/testlib.sh"
PROMOE=$(cd "$(dirname "$PROMOE")" && pwd)/$(basename "$PROMOE")
skip() { echo "test_slurm: skipped: $*"; exit 77; }
for d in munged mungekey slurmctld slurmd sbatch sinfo; do
  command -v $d >/dev/null || PATH=$PATH:/usr/sbin:/sbin
  command -v $d >/dev/null || skip "$d is not installed (Debian: slurm-wlm munge)"
done
[ "$(id -u)" -eq 0 ] || skip "slurmd runs jobs as their users, so it must run as root"
node=$(hostname -s 2>/dev/null) && [ -n "$node" ] || skip "no host name"

chmod 700 "$tmp"
pids="" # read from the pid files as each daemon starts: they remove them as they stop
stop_all() {
  [ -n "$pids" ] && kill $pids 2>/dev/null
  i=0 # they take a moment to go; then no mercy
  while [ $i -lt 50 ] && [ -n "$pids" ] && kill -0 $pids 2>/dev/null; do
    sleep 0.2; i=$((i + 1))
  done
  for p in $pids; do kill -KILL "$p" 2>/dev/null; done
  rm -rf "$tmp"
}
# started FILE: wait for the pid file FILE and remember its pid
started() {
  i=0
  while [ ! -s "$1" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
  [ -s "$1" ] && pids="$pids $(cat "$1")"
}
trap stop_all EXIT
trap 'exit 1' INT TERM
show_logs() { tail -n 15 "$tmp"/log/*.log "$tmp/munge/log" 2>/dev/null; }

mkdir -p "$tmp/munge" "$tmp/state" "$tmp/spool" "$tmp/log"
mungekey -c -k "$tmp/munge/munge.key" 2>/dev/null ||
  dd if=/dev/urandom of="$tmp/munge/munge.key" bs=1024 count=1 2>/dev/null
chmod 600 "$tmp/munge/munge.key"
munged -f --key-file="$tmp/munge/munge.key" --socket="$tmp/munge/sock" \
  --pid-file="$tmp/munge/pid" --log-file="$tmp/munge/log" --seed-file="$tmp/munge/seed" &&
  started "$tmp/munge/pid" || skip "munged would not start"

port=$((20000 + $$ % 20000))
cat >"$tmp/slurm.conf" <<EOF
ClusterName=promoetest
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$tmp/munge/sock
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$tmp/state
SlurmdSpoolDir=$tmp/spool
SlurmctldPidFile=$tmp/slurmctld.pid
SlurmdPidFile=$tmp/slurmd.pid
SlurmctldLogFile=$tmp/log/slurmctld.log
SlurmdLogFile=$tmp/log/slurmd.log
ProctrackType=proctrack/pgid
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
SwitchType=switch/none
ReturnToService=2
NodeName=$node NodeAddr=127.0.0.1 CPUs=2 State=UNKNOWN
PartitionName=test Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
SLURM_CONF=$tmp/slurm.conf
export SLURM_CONF
slurmctld -f "$SLURM_CONF" && started "$tmp/slurmctld.pid" ||
  { show_logs; skip "slurmctld would not start"; }
slurmd -f "$SLURM_CONF" && started "$tmp/slurmd.pid" || { show_logs; skip "slurmd would not start"; }
i=0
until sinfo -h -o %T 2>/dev/null | grep -q idle; do
  i=$((i + 1))
  [ $i -lt 60 ] || { show_logs; skip "the node did not become idle in 30 s"; }
  sleep 0.5
done

cat >"$tmp/small.sweep" <<'EOF'
[sweep]
description = a sweep for the Slurm test
run = sim --trace {trace} --system {system} --cache {cache}
[grid]
system = reactive-lru, oracle, no-such-system
cache = 0.25, 0.5
seed = 1, 2
[inputs]
trace = trace gen --requests 2 --prompt-mean 8 --output-mean 8 --seed {seed} -o {output}
EOF

timeout 300 "$PROMOE" sweep "$tmp/small.sweep" --results "$tmp/cluster" --slurm --tasks 3 \
  --wait >"$tmp/out" 2>"$tmp/err"
rc=$?
[ $rc -eq 1 ] && ok || { fail "--slurm --wait exit $rc, expected 1 (4 points fail)"; cat "$tmp/err"; show_logs; }
grep -q "merged 3 task files; $tmp/cluster/small.csv has 12 rows; of 12 points 8 ok, 4 failed, 0 not run" "$tmp/err" && ok ||
  { fail "collect message"; cat "$tmp/err"; }
[ "$(ls "$tmp/cluster/slurm/" | grep -c '^small-.*\.out$')" -eq 3 ] && ok ||
  fail "one log per array task"
ls "$tmp/cluster"/small.task-*.jsonl >/dev/null 2>&1 && fail "task files left after collect" || ok
grep -q "^#SBATCH --array=0-2$" "$tmp/cluster/slurm/small.sbatch" && ok || fail "array directive"

"$PROMOE" sweep "$tmp/small.sweep" -j 1 --results "$tmp/local" 2>/dev/null
comparable "$tmp/cluster/small.jsonl" >"$tmp/c1"
comparable "$tmp/local/small.jsonl" >"$tmp/c2"
[ "$(wc -l <"$tmp/c1")" -eq 12 ] && cmp -s "$tmp/c1" "$tmp/c2" && ok ||
  { fail "cluster rows differ from local -j 1 rows"; diff "$tmp/c1" "$tmp/c2" | head; }

# without --wait: the job id on stdout, then --collect by hand
timeout 60 "$PROMOE" sweep "$tmp/small.sweep" --results "$tmp/cluster2" --slurm --tasks 2 \
  >"$tmp/id" 2>"$tmp/err"
id=$(cat "$tmp/id")
case $id in ''|*[!0-9]*) fail "--slurm should print the job id, got '$id'"; cat "$tmp/err" ;; *) ok ;; esac
i=0
while squeue -h -j "$id" 2>/dev/null | grep -q . && [ $i -lt 300 ]; do sleep 0.5; i=$((i + 1)); done
"$PROMOE" sweep "$tmp/small.sweep" --results "$tmp/cluster2" --collect 2>"$tmp/err"
grep -q "merged 2 task files; .*small.csv has 12 rows" "$tmp/err" && ok ||
  { fail "--collect after the job"; cat "$tmp/err"; }

finish test_slurm
