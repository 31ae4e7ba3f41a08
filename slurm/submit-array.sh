#!/usr/bin/env bash
# Submits a sweep as a Slurm array split over one list of the config, plus a merge job that runs
# after every part succeeded. Extra arguments go to sbatch for the parts (e.g. -N 1 -n 3).
#   slurm/submit-array.sh configs/paper/table5-gsm8k.json runs/table5 methods -n 3 -t 04:00:00
set -euo pipefail
CONFIG=${1:?usage: submit-array.sh CONFIG OUT_DIR [SPLIT_KEY] [sbatch options...]}
OUT=${2:?usage: submit-array.sh CONFIG OUT_DIR [SPLIT_KEY] [sbatch options...]}
SPLIT_KEY=${3:-tasks}
shift $(( $# >= 3 ? 3 : 2 ))
HERE=$(cd "$(dirname "$0")" && pwd)
KVSWEEP=${KVSWEEP:-$HERE/../build/kvsweep}
export KVSWEEP
n=$("$KVSWEEP" run "$CONFIG" --split-count "$SPLIT_KEY")
mkdir -p "$OUT"
array=$(sbatch --parsable --array="0-$((n - 1))" "$@" "$HERE/array.sbatch" "$CONFIG" "$OUT" "$SPLIT_KEY")
merge=$(sbatch --parsable --dependency="afterok:$array" "$HERE/merge.sbatch" "$OUT")
echo "array job $array ($n parts split by $SPLIT_KEY), merge job $merge -> $OUT/merged"
