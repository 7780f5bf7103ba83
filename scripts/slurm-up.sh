#!/usr/bin/env bash
# Start a real single-node SLURM on this machine (for tests and for trying the slurm executor):
# munged (if not already answering), slurmctld and slurmd, with a minimal slurm.conf and all of
# their state, spool, pid and log files in one folder.
#
#   scripts/slurm-up.sh [STATE_DIR]        (default: $CIRCLE_SURVIVAL_SLURM_DIR, else
#                                           /tmp/circle-survival-slurm)
#   eval "$(scripts/slurm-up.sh | tail -n 1)"   # sets SLURM_CONF for sbatch, squeue, ...
#   scripts/slurm-down.sh [STATE_DIR]
#
# Needs root (SlurmUser/SlurmdUser root), Debian's slurm-wlm and munge. No accounting
# database: sacct does not work against this cluster. Every start wipes the folder's old jobs
# first (slurmctld -i alone keeps them). Environment: CIRCLE_SURVIVAL_SLURM_PORT (slurmctld's
# port, default 6817; slurmd listens on the next one), CIRCLE_SURVIVAL_SLURM_TIMEOUT (seconds to
# wait for the node to be idle, default 60). The last line of stdout is
# `export SLURM_CONF=STATE_DIR/slurm.conf`.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
state=${1:-${CIRCLE_SURVIVAL_SLURM_DIR:-/tmp/circle-survival-slurm}}
port=${CIRCLE_SURVIVAL_SLURM_PORT:-6817}
timeout=${CIRCLE_SURVIVAL_SLURM_TIMEOUT:-60}

die() { echo "slurm-up: $*" >&2; exit 1; }

for tool in munged munge unmunge slurmctld slurmd sinfo scontrol; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool is not installed (apt-get install -y slurm-wlm munge)"
done
[ "$(id -u)" = 0 ] || die "must run as root (SlurmUser and SlurmdUser are root)"
case "$state" in
    /*) ;;
    *) state="$(pwd)/$state" ;;
esac
[ "$state" != / ] || die "refusing state folder /"

# stop what a previous start left running in this folder, then wipe its state
"$here/slurm-down.sh" "$state" >/dev/null
mkdir -p "$state"
rm -rf "$state/statesave" "$state/spool" "$state/log"
rm -f "$state"/slurmctld.pid "$state"/slurmd.pid "$state/slurm.conf"
mkdir -p "$state/statesave" "$state/spool" "$state/log"

# -- munge ----------------------------------------------------------------------------------
munge_ok() { munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; }
if ! munge_ok; then
    mkdir -p /run/munge /var/lib/munge /var/log/munge /etc/munge
    chown munge:munge /run/munge /var/lib/munge /var/log/munge
    chmod 0755 /run/munge
    if [ ! -s /etc/munge/munge.key ]; then
        if command -v mungekey >/dev/null 2>&1; then
            mungekey --create --keyfile=/etc/munge/munge.key --force
        else
            dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 2>/dev/null
        fi
    fi
    chown munge:munge /etc/munge/munge.key
    chmod 0400 /etc/munge/munge.key
    runuser -u munge -- munged || die "munged did not start (see /var/log/munge/munged.log)"
    touch "$state/munged.ours"  # slurm-down.sh stops munged only if it was started here
    for _ in $(seq 50); do munge_ok && break; sleep 0.1; done
    munge_ok || die "munged started but does not answer (see /var/log/munge/munged.log)"
fi

# -- slurm.conf -----------------------------------------------------------------------------
host=$(hostname -s)
cpus=$(nproc)
mem=$(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' | head -n 1)
[ -n "$mem" ] || die "cannot read RealMemory from 'slurmd -C'"
mem=$(( mem * 9 / 10 ))
cat > "$state/slurm.conf" <<CONF
# written by scripts/slurm-up.sh: a single-node SLURM on localhost, no accounting
ClusterName=circlesurvival
SlurmctldHost=${host}(127.0.0.1)
SlurmctldPort=${port}
SlurmdPort=$(( port + 1 ))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
ReturnToService=2
JobRequeue=1
MaxArraySize=100001
MaxJobCount=200000
StateSaveLocation=${state}/statesave
SlurmdSpoolDir=${state}/spool
SlurmctldPidFile=${state}/slurmctld.pid
SlurmdPidFile=${state}/slurmd.pid
SlurmctldLogFile=${state}/log/slurmctld.log
SlurmdLogFile=${state}/log/slurmd.log
SlurmctldTimeout=30
SlurmdTimeout=30
MessageTimeout=10
KillWait=5
MinJobAge=300
InactiveLimit=0
Waittime=0
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
NodeName=${host} NodeAddr=127.0.0.1 CPUs=${cpus} RealMemory=${mem} State=UNKNOWN
PartitionName=debug Nodes=${host} Default=YES MaxTime=INFINITE State=UP
CONF

export SLURM_CONF="$state/slurm.conf"
slurmctld -i -f "$SLURM_CONF" || die "slurmctld did not start (see $state/log/slurmctld.log)"
slurmd -f "$SLURM_CONF" || die "slurmd did not start (see $state/log/slurmd.log)"

# -- wait for the node ----------------------------------------------------------------------
deadline=$(( $(date +%s) + timeout ))
node_state=""
while :; do
    node_state=$(sinfo -h -N -n "$host" -o %t 2>/dev/null | head -n 1 || true)
    case "$node_state" in
        idle|mix|alloc) break ;;
    esac
    if [ "$(date +%s)" -ge "$deadline" ]; then
        tail -n 5 "$state/log/slurmctld.log" "$state/log/slurmd.log" >&2 || true
        die "node $host is not idle after ${timeout}s (state '${node_state:-none}'); logs in $state/log"
    fi
    sleep 0.2
done
echo "slurm-up: node $host is $node_state ($cpus CPUs, ${mem} MB); state in $state"
echo "export SLURM_CONF=$SLURM_CONF"
