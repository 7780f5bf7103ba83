#!/usr/bin/env bash
# Stop the single-node SLURM that scripts/slurm-up.sh started in STATE_DIR: cancel its jobs,
# stop slurmd and slurmctld by their pid files (and munged, if slurm-up.sh started it). Safe to
# call twice, or for a folder where nothing runs; the folder's files are kept for reading.
#
#   scripts/slurm-down.sh [STATE_DIR]      (default: $CIRCLE_SURVIVAL_SLURM_DIR, else
#                                           /tmp/circle-survival-slurm)
set -euo pipefail

state=${1:-${CIRCLE_SURVIVAL_SLURM_DIR:-/tmp/circle-survival-slurm}}

# the pid in FILE, if that process still runs and is NAME
live_pid() {
    local file=$1 name=$2 pid
    [ -s "$file" ] || return 1
    pid=$(tr -dc 0-9 < "$file")
    [ -n "$pid" ] && [ -r "/proc/$pid/comm" ] || return 1
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ] || return 1
    echo "$pid"
}

# stop every daemon named in "FILE NAME" pairs at once (TERM, then KILL after 10 s)
stop() {
    local pids=() names=() file name pid i
    while [ $# -gt 0 ]; do
        file=$1 name=$2
        shift 2
        if pid=$(live_pid "$file" "$name"); then
            kill -TERM "$pid" 2>/dev/null || true
            pids+=("$pid")
            names+=("$name")
        fi
        rm -f "$file"
    done
    for _ in $(seq 100); do
        alive=0
        for pid in "${pids[@]}"; do [ -e "/proc/$pid" ] && alive=1; done
        [ "$alive" = 0 ] && break
        sleep 0.1
    done
    for i in "${!pids[@]}"; do
        [ -e "/proc/${pids[$i]}" ] && kill -KILL "${pids[$i]}" 2>/dev/null || true
        echo "slurm-down: stopped ${names[$i]} (${pids[$i]})"
    done
}

[ -d "$state" ] || exit 0
conf="$state/slurm.conf"

# cancel this cluster's jobs while slurmctld still answers, so no job keeps running
if [ -f "$conf" ] && live_pid "$state/slurmctld.pid" slurmctld >/dev/null; then
    export SLURM_CONF=$conf
    if [ -n "$(squeue -h -o %A 2>/dev/null | head -n 1)" ]; then
        scancel --full --user="$(id -un)" 2>/dev/null || true
        for _ in $(seq 100); do
            [ -z "$(squeue -h -o %A 2>/dev/null | head -n 1)" ] && break
            sleep 0.1
        done
    fi
fi

daemons=("$state/slurmd.pid" slurmd "$state/slurmctld.pid" slurmctld)
if [ -e "$state/munged.ours" ]; then
    daemons+=(/run/munge/munged.pid munged)  # started by slurm-up.sh, not by the system
fi
stop "${daemons[@]}"
rm -f "$state/munged.ours"
