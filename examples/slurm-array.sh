#!/bin/bash
# One sweep trained by a SLURM job array: every array task runs the same command on the same
# store, and the tasks share the work (each trains batches that no other task is training; a
# task that finds nothing left ends at once), so N tasks finish about N times sooner and any
# number of tasks, started at any time, end with every run in the store exactly once.
#
#   sbatch --array=0-15 examples/slurm-array.sh SPEC.toml /shared/stores/my-store
#
# The store must be on storage every node mounts at the same path (the script's log goes to
# the folder sbatch was called from). Adjust the #SBATCH lines below for your cluster, or
# override them on the sbatch command line (--partition, --time, --gres=gpu:1, ...). With
# CIRCLE_SURVIVAL_VENV set, the tasks activate that virtual environment first.
#
# Time limits: 300 s before its limit a task is signalled and requeues itself; the batch it
# was training keeps its last checkpoint (saved about every 5 minutes) and the next task to
# claim it resumes from it, on any node (at once on the same node, after the claim's
# 120 s lease elsewhere). Keep --time well above the 300 s of --signal: a margin as long as
# the limit requeues every attempt at once.
#
#SBATCH --job-name=circle-survival
#SBATCH --array=0-7
#SBATCH --cpus-per-task=4
#SBATCH --mem=8G
#SBATCH --time=04:00:00
#SBATCH --requeue
#SBATCH --signal=B:USR1@300
#SBATCH --output=circle-survival-%A_%a.out
#SBATCH --open-mode=append
set -euo pipefail

usage="usage: sbatch --array=0-N examples/slurm-array.sh SPEC STORE"
spec=${1:?$usage}
store=${2:?$usage}
if [ -n "${CIRCLE_SURVIVAL_VENV:-}" ]; then
    # shellcheck disable=SC1091
    source "$CIRCLE_SURVIVAL_VENV/bin/activate"
fi
# torch's threads: the CPUs SLURM gave this task
export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1}

task=${SLURM_ARRAY_JOB_ID:-${SLURM_JOB_ID:-local}}${SLURM_ARRAY_TASK_ID:+_$SLURM_ARRAY_TASK_ID}
requeue() {
    echo "circle-survival: $task is near its time limit: requeued"
    scontrol requeue "$task"  # SLURM stops this attempt and starts the task again later
}
trap requeue USR1

echo "circle-survival: $task on $(hostname), attempt $(( ${SLURM_RESTART_COUNT:-0} + 1 ))"
circle-survival sweep run "$spec" "$store" --quiet &
pid=$!
while :; do
    rc=0
    wait "$pid" || rc=$?  # a trapped signal ends the wait early: wait again
    if ! kill -0 "$pid" 2>/dev/null; then
        exit "$rc"
    fi
done
