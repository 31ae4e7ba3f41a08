#!/usr/bin/env bash
# The slurm/ scripts for real on a one-node Slurm started here (docs/local-slurm.md): submit a
# sweep with slurm/sweep.sbatch, requeue it once mid-run (scontrol requeue), and check that the
# final run equals a run without Slurm. Exits 77 (CTest: skipped) when Slurm cannot be started.
# usage: test_slurm.sh KVSWEEP WORKDIR
set -uo pipefail
KVSWEEP=$(readlink -f "$1")
WORK=$2
skip() {
    echo "SKIPPED: $*"
    exit 77
}
for tool in munged slurmctld slurmd sbatch scontrol sinfo; do
    command -v "$tool" > /dev/null || skip "$tool not installed (apt-get install slurm-wlm munge)"
done
[ "$(id -u)" -eq 0 ] || skip "starting slurmctld/slurmd needs root"
rm -rf "$WORK"
mkdir -p "$WORK"
WORK=$(readlink -f "$WORK")
host=$(hostname -s)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2> /dev/null; done
}
trap cleanup EXIT

# munge
if ! munge -n 2> /dev/null | unmunge > /dev/null 2>&1; then
    mkdir -p /etc/munge /run/munge /var/log/munge /var/lib/munge
    [ -s /etc/munge/munge.key ] || dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 2> /dev/null
    chown -R munge: /etc/munge /run/munge /var/log/munge /var/lib/munge 2> /dev/null
    chmod 400 /etc/munge/munge.key
    munged --force || skip "munged does not start"
    sleep 1
    munge -n | unmunge | grep -q "STATUS: *Success" || skip "munge credentials do not verify"
fi

# slurm.conf for this one node
mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
cat > /etc/slurm/slurm.conf << CONF
ClusterName=kvsweep-test
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
JobRequeue=1
NodeName=$host CPUs=2 RealMemory=20000 State=UNKNOWN
PartitionName=test Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
CONF
slurmctld -D > "$WORK/slurmctld.out" 2>&1 &
pids+=($!)
sleep 2
slurmd -D > "$WORK/slurmd.out" 2>&1 &
pids+=($!)
for _ in $(seq 1 30); do
    sinfo -h -o %t 2> /dev/null | grep -qE "idle|mix" && break
    sleep 1
done
sinfo -h -o %t 2> /dev/null | grep -qE "idle|mix" || skip "the Slurm node never became idle ($(sinfo 2>&1 | tail -n 1))"
echo "slurm up: $(sinfo -h)"

# The reference without Slurm, then the same sweep under sbatch (mpirun inside the allocation:
# Debian's Open MPI has no PMIx/PMI2 for srun by default; README.md lists both forms).
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
CONFIG=tests/runner/data/sweep_small.json
SET=(--set generation.max_new_tokens=120)
"$KVSWEEP" run "$CONFIG" --out "$WORK/reference" "${SET[@]}" > "$WORK/reference.log" 2>&1 || { cat "$WORK/reference.log"; exit 1; }
job=$(KVSWEEP=$KVSWEEP LAUNCH=mpirun MPIRUN_FLAGS="--oversubscribe --allow-run-as-root" \
    sbatch --parsable -N 1 -n 3 --overcommit -D "$PWD" -o "$WORK/job-%j.out" slurm/sweep.sbatch "$CONFIG" "$WORK/run" "${SET[@]}")
echo "submitted job $job"
for _ in $(seq 1 600); do
    [ -s "$WORK/run/journal.jsonl" ] && break
    sleep 0.2
done
scontrol requeue "$job" || { echo "FAIL: scontrol requeue"; exit 1; }
echo "requeued job $job after $(wc -l < "$WORK/run/journal.jsonl") journal lines"
for _ in $(seq 1 900); do
    state=$(scontrol show job "$job" 2> /dev/null | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p')
    restarts=$(scontrol show job "$job" 2> /dev/null | sed -n 's/.*Restarts=\([0-9]*\).*/\1/p')
    [ "$state" = COMPLETED ] && break
    case "$state" in FAILED | CANCELLED | TIMEOUT | NODE_FAIL) cat "$WORK"/job-*.out; echo "FAIL: job $state"; exit 1 ;; esac
    sleep 1
done
[ "$state" = COMPLETED ] || { cat "$WORK"/job-*.out; echo "FAIL: job not completed ($state)"; exit 1; }
[ "${restarts:-0}" -ge 1 ] || { echo "FAIL: the job was not requeued (Restarts=$restarts)"; exit 1; }
/usr/bin/python3 tests/runner/compare_runs.py "$WORK/reference" "$WORK/run" || exit 1
grep -q SLURM_JOB_ID "$WORK/run/run_meta.json" || { echo "FAIL: no Slurm ids in run_meta.json"; exit 1; }
echo "slurm: job $job requeued $restarts time(s), final report equals the reference: ok"
