#!/usr/bin/env bash
# A real one-node SLURM cluster on this machine, for the sweep's SLURM tests (CI runs `up` first).
# Usage: bash scripts/dev/local_slurm.sh up|down|status
#   up    installs Debian's slurm-wlm and munge if missing (apt-get, root), writes a one-node
#         slurm.conf (partition "debug", this host, its cores and memory) and starts munged,
#         slurmctld and slurmd; waits until the node is idle.
#   down  stops the three daemons (the packages stay installed).
# Settings that run jobs in a container without systemd or cgroup delegation:
# ProctrackType=proctrack/linuxproc, TaskPlugin=task/none, CgroupPlugin=cgroup/v1, SlurmUser=root.
set -euo pipefail

CONF_DIR=/etc/slurm
STATE_DIR=/var/spool/slurmctld
NODE_DIR=/var/spool/slurmd
LOG_DIR=/var/log/slurm

install_packages() {
    if command -v slurmctld >/dev/null && command -v munged >/dev/null; then return 0; fi
    if [ "$(id -u)" != 0 ]; then
        echo "error: installing slurm-wlm and munge needs root (apt-get); run as root or install them yourself" >&2
        exit 2
    fi
    local log=/tmp/local_slurm_install.log
    echo "[slurm] installing slurm-wlm and munge (apt-get; log: $log)" >&2
    export DEBIAN_FRONTEND=noninteractive
    if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends slurm-wlm munge; } > "$log" 2>&1; then
        tail -n 20 "$log" >&2
        echo "error: could not install slurm-wlm and munge; see $log" >&2
        exit 1
    fi
}

write_config() {
    local host cpus mem
    host=$(hostname -s)
    cpus=$(nproc)
    mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))
    mkdir -p "$CONF_DIR" "$STATE_DIR" "$NODE_DIR" "$LOG_DIR"
    cat > "$CONF_DIR/slurm.conf" <<EOF
# Written by scripts/dev/local_slurm.sh: a one-node test cluster.
ClusterName=localtest
SlurmctldHost=$host
SlurmUser=root
AuthType=auth/munge
# A requeued job may start again after the credential lifetime (default 120 s): short for tests.
AuthInfo=cred_expire=10
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
StateSaveLocation=$STATE_DIR
SlurmdSpoolDir=$NODE_DIR
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd.log
MpiDefault=none
KillWait=10
MinJobAge=300
JobRequeue=1
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
EOF
    echo "CgroupPlugin=cgroup/v1" > "$CONF_DIR/cgroup.conf"
}

up() {
    install_packages
    write_config
    if [ ! -s /etc/munge/munge.key ]; then
        mkdir -p /etc/munge
        dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
    fi
    chown -R munge:munge /etc/munge 2>/dev/null || true
    chmod 400 /etc/munge/munge.key
    mkdir -p /run/munge /var/lib/munge /var/log/munge
    chown munge:munge /run/munge /var/lib/munge /var/log/munge 2>/dev/null || true
    pgrep -x munged >/dev/null || runuser -u munge -- munged 2>/dev/null || munged --force
    if pgrep -x slurmctld >/dev/null; then scontrol reconfigure; else slurmctld; fi
    pgrep -x slurmd >/dev/null || slurmd
    for _ in $(seq 60); do
        if sinfo -h -o %T 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
            echo "[slurm] up: $(sinfo -h -o '%P %D %T %C')"
            return 0
        fi
        sleep 1
    done
    echo "error: the SLURM node did not come up; see $LOG_DIR/slurmctld.log and $LOG_DIR/slurmd.log" >&2
    exit 1
}

down() {
    local pid
    for name in slurmd slurmctld munged; do
        for pid in $(pgrep -x "$name" || true); do kill "$pid"; done
    done
    echo "[slurm] down"
}

case "${1:-}" in
    up) up ;;
    down) down ;;
    status) sinfo 2>/dev/null || { echo "no SLURM cluster is running (bash $0 up)"; exit 1; } ;;
    *) echo "usage: bash $0 up|down|status" >&2; exit 2 ;;
esac
