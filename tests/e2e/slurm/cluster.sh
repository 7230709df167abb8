#!/usr/bin/env bash
# A single-node SLURM cluster on localhost, from Debian's packages, with every file under one temp dir.
#   tests/e2e/slurm/cluster.sh start DIR   # munged, slurmctld, slurmd; prints the SLURM_CONF to export
#   tests/e2e/slurm/cluster.sh stop DIR    # stops exactly the daemons that `start` started (by PID)
# No systemd and no accounting (tests/e2e/slurm/bin/sacct answers sacct from scontrol). Needs root.
set -euo pipefail

cmd=${1:?usage: cluster.sh start|stop DIR}
dir=${2:?usage: cluster.sh start|stop DIR}
# Seconds to wait for the node to become idle after the daemons start.
ready_timeout_s=${SLURM_READY_TIMEOUT_S:-30}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

stop() {
  # Reverse order; TERM, then KILL whatever has not exited after 10 s. Only our own PIDs.
  for name in slurmd slurmctld munged; do
    pidfile="$dir/$name.daemon.pid"
    [[ -f $pidfile ]] || continue
    pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
  done
}

start() {
  mkdir -p "$dir"/{state,spool,munge}
  chmod 700 "$dir/munge"
  # A key of our own: the system's /etc/munge stays untouched.
  dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
  chmod 400 "$dir/munge/munge.key"
  munged -F --force --key-file="$dir/munge/munge.key" --socket="$dir/munge/munge.socket" \
    --pid-file="$dir/munge/munged.pid" --log-file="$dir/munge/munged.log" --seed-file="$dir/munge/seed" \
    >"$dir/munged.out" 2>&1 &
  echo $! >"$dir/munged.daemon.pid"
  for _ in $(seq 50); do [[ -S $dir/munge/munge.socket ]] && break; sleep 0.1; done

  # CPUs, sockets, cores and memory as slurmd sees this machine.
  hw=$(slurmd -C | head -1 | sed 's/^NodeName=[^ ]* //')
  cat >"$dir/slurm.conf" <<CONF
ClusterName=colorization-test
SlurmctldHost=localhost(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
AuthType=auth/munge
CredType=cred/munge
# cred_expire: also how long a requeued job waits before it may start again (default 120 s; the pre-emption test
# requeues one).
AuthInfo=socket=$dir/munge/munge.socket,cred_expire=${SLURM_CRED_EXPIRE_S:-10}
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SchedulerType=sched/backfill
# Pending jobs are looked at every 5 s, not 60 / 30: a requeued job starts again soon after it may.
SchedulerParameters=sched_interval=5,bf_interval=5
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
# Keep finished jobs visible to scontrol (the sacct shim) for an hour.
MinJobAge=3600
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
NodeName=localhost NodeAddr=127.0.0.1 $hw State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
  export SLURM_CONF="$dir/slurm.conf"
  slurmctld -D -i -f "$SLURM_CONF" >"$dir/slurmctld.out" 2>&1 &
  echo $! >"$dir/slurmctld.daemon.pid"
  slurmd -D -N localhost -f "$SLURM_CONF" >"$dir/slurmd.out" 2>&1 &
  echo $! >"$dir/slurmd.daemon.pid"
  for _ in $(seq $((ready_timeout_s * 10))); do
    if sinfo -h -N -o '%T' 2>/dev/null | grep -qx idle; then
      echo "$SLURM_CONF"
      return 0
    fi
    sleep 0.1
  done
  echo "SLURM did not come up in ${ready_timeout_s}s; logs in $dir" >&2
  tail -n 20 "$dir"/*.log "$dir"/*.out >&2 || true
  stop
  return 1
}

case $cmd in
  start) start ;;
  stop) stop ;;
  *) echo "usage: cluster.sh start|stop DIR" >&2; exit 2 ;;
esac
