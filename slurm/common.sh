# Shared by the sbatch scripts: launch kvsweep under srun or mpirun, forward the pre-timeout
# signal, requeue when the sweep was drained before it finished.
KVSWEEP=${KVSWEEP:-${SLURM_SUBMIT_DIR:-.}/build/kvsweep}
LAUNCH=${LAUNCH:-srun}
SRUN_MPI=${SRUN_MPI:-pmix}
export OMPI_MCA_mpi_yield_when_idle=1

launcher_pid=""
forward_signal() {
    echo "kvsweep slurm: $1 received, draining the sweep (journal closes cleanly)"
    [ -n "$launcher_pid" ] && kill -s "$1" "$launcher_pid" 2> /dev/null
}
trap 'forward_signal USR1' USR1
trap 'forward_signal TERM' TERM

kvsweep_launch() {
    echo "kvsweep slurm: job ${SLURM_JOB_ID:-?} restart ${SLURM_RESTART_COUNT:-0} on ${SLURM_JOB_NODELIST:-?}, launch=$LAUNCH"
    if [ "$LAUNCH" = mpirun ]; then
        # Open MPI's mpirun reads the allocation itself and forwards SIGUSR1 to every rank.
        mpirun ${MPIRUN_FLAGS:-} "$KVSWEEP" "$@" &
    else
        srun --mpi="$SRUN_MPI" --kill-on-bad-exit=1 "$KVSWEEP" "$@" &
    fi
    launcher_pid=$!
    local code
    # `wait` returns early when a trapped signal arrives: wait again until the launcher is gone.
    while true; do
        wait "$launcher_pid"
        code=$?
        kill -0 "$launcher_pid" 2> /dev/null || break
    done
    if [ "$code" -eq 3 ] && [ -n "${SLURM_JOB_ID:-}" ]; then
        echo "kvsweep slurm: sweep interrupted with work left, requeueing job $SLURM_JOB_ID"
        scontrol requeue "$SLURM_JOB_ID"
    fi
    return "$code"
}
