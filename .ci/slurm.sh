#!/usr/bin/env bash
# A single-node Slurm cluster for the Slurm tests: munge, slurmctld and slurmd
# from Debian's packages, started directly (no systemd).
#
#   bash .ci/slurm.sh start   install if missing, configure, start, wait until idle
#   bash .ci/slurm.sh stop    stop the daemons this script started
#
# Everything lives under $RUN_GRAPH_SLURM_DIR (default /tmp/run-graph-slurm):
# slurm.conf, state, spool, logs, the job-completion log (jobcomp.txt) the tests
# count jobs from, and the daemons' pid files.
set -euo pipefail

root=${RUN_GRAPH_SLURM_DIR:-/tmp/run-graph-slurm}
conf=/etc/slurm/slurm.conf

say() { echo "slurm.sh: $*"; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

install_packages() {
  if command -v slurmctld >/dev/null && command -v slurmd >/dev/null &&
    command -v munged >/dev/null && command -v sbatch >/dev/null; then
    return
  fi
  say "installing slurm-wlm and munge"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends \
    slurm-wlm munge >/dev/null
}

write_config() {
  local node cpus memory
  node=$(hostname -s)
  # slurmd -C prints this machine's real layout: "NodeName=x CPUs=2 ... RealMemory=7951".
  local probe
  probe=$(slurmd -C | head -n 1)
  cpus=$(echo "$probe" | grep -oE 'CPUs=[0-9]+' | cut -d= -f2)
  memory=$(echo "$probe" | grep -oE 'RealMemory=[0-9]+' | cut -d= -f2)
  # Leave headroom so that a node reporting slightly less memory is not drained.
  memory=$((memory * 9 / 10))
  mkdir -p "$root/state" "$root/spool" "$root/log"
  as_root mkdir -p /etc/slurm
  # A job in partition urgent (a higher priority tier) that needs the node preempts debug's jobs, which end
  # PREEMPTED, as a cluster's preemption ends them.
  # Memory is a consumable resource, held to each job's --mem through the memory cgroup where slurmd can make
  # one: a node over its resources.memory then ends OUT_OF_MEMORY, as on a real cluster. A job that asks
  # for no memory gets DefMemPerCPU. Without a memory cgroup here, jobs run unconstrained (task/none).
  local task=task/none
  if [ "${1:-}" != without-cgroups ] && memory_cgroup_writable; then
    task=task/cgroup
    as_root tee /etc/slurm/cgroup.conf >/dev/null <<CGROUP
CgroupPlugin=cgroup/v1
CgroupMountpoint=/sys/fs/cgroup
ConstrainRAMSpace=yes
ConstrainSwapSpace=no
CGROUP
  fi
  as_root tee "$conf" >/dev/null <<CONF
ClusterName=rungraph
SlurmctldHost=$node(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$root/state
SlurmdSpoolDir=$root/spool
SlurmctldPidFile=$root/slurmctld.pid
SlurmdPidFile=$root/slurmd.pid
SlurmctldLogFile=$root/log/slurmctld.log
SlurmdLogFile=$root/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=$task
MpiDefault=none
SwitchType=switch/none
ReturnToService=2
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2,bf_interval=2,defer_batch=0
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
DefMemPerCPU=1024
PreemptType=preempt/partition_prio
PreemptMode=CANCEL
JobCompType=jobcomp/filetxt
JobCompLoc=$root/jobcomp.txt
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=1
MessageTimeout=5
KillWait=2
MinJobAge=30
InactiveLimit=0
SlurmdTimeout=30
MaxJobCount=20000
MaxArraySize=2001
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$memory State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4 PriorityTier=1
PartitionName=urgent Nodes=$node MaxTime=INFINITE State=UP PriorityTier=2
CONF
  say "slurm.conf for $node: CPUs=$cpus RealMemory=$memory TaskPlugin=$task"
}

# Whether slurmd could make memory cgroups (cgroup v1, writable): one made and removed.
memory_cgroup_writable() {
  local probe=/sys/fs/cgroup/memory/run-graph-probe.$$
  [ -d /sys/fs/cgroup/memory ] || return 1
  as_root mkdir "$probe" 2>/dev/null || return 1
  as_root rmdir "$probe"
}

start_munge() {
  if [ -S /run/munge/munge.socket.2 ] && munge -n </dev/null >/dev/null 2>&1; then return; fi
  if [ ! -s /etc/munge/munge.key ]; then
    as_root mkdir -p /etc/munge
    as_root dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
  fi
  as_root chown munge:munge /etc/munge/munge.key 2>/dev/null || true
  as_root chmod 400 /etc/munge/munge.key
  as_root mkdir -p /run/munge /var/log/munge /var/lib/munge
  as_root chown munge:munge /run/munge /var/log/munge /var/lib/munge 2>/dev/null || true
  if id munge >/dev/null 2>&1; then
    as_root runuser -u munge -- munged --force
  else
    as_root munged --force
  fi
  touch "$root/started-munged"
  for _ in $(seq 1 20); do
    munge -n </dev/null >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  say "munged did not answer"
  return 1
}

wait_idle() {
  local node
  node=$(hostname -s)
  for _ in $(seq 1 60); do
    local state
    state=$(sinfo -h -n "$node" -o '%t' 2>/dev/null | head -n 1 || true)
    case "$state" in
    idle | mix | alloc)
      say "node $node is $state"
      return 0
      ;;
    down* | drain* | drng*)
      as_root scontrol update nodename="$node" state=resume >/dev/null 2>&1 || true
      ;;
    esac
    sleep 1
  done
  say "node $node did not become idle; logs in $root/log"
  tail -n 20 "$root/log/slurmctld.log" "$root/log/slurmd.log" >&2 || true
  return 1
}

# Whether the process a pid file names is alive.
running() {
  [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}

start() {
  install_packages
  mkdir -p "$root"
  write_config
  start_munge
  # A daemon that fails to start shows in wait_idle, which prints its log.
  running "$root/slurmctld.pid" || as_root slurmctld || true
  running "$root/slurmd.pid" || as_root slurmd || true
  wait_idle && return 0
  grep -q '^TaskPlugin=task/cgroup' "$conf" || return 1
  # Memory cgroups that could be made but that slurmd cannot use: the cluster without memory limits, rather
  # than none (the OUT_OF_MEMORY test then says why it cannot run).
  say "slurmd did not come up with task/cgroup; starting it again with task/none"
  stop_pid_file slurmd "$root/slurmd.pid"
  stop_pid_file slurmctld "$root/slurmctld.pid"
  write_config without-cgroups
  as_root slurmctld
  as_root slurmd
  wait_idle
}

# Stop the process whose pid a file holds, and wait until it is gone.
stop_pid_file() {
  local name=$1 pidfile=$2 pid
  [ -s "$pidfile" ] || return 0
  pid=$(cat "$pidfile")
  as_root kill "$pid" 2>/dev/null || true
  # slurmd may take a while to finish its shutdown.
  for _ in $(seq 1 240); do
    kill -0 "$pid" 2>/dev/null || {
      rm -f "$pidfile"
      return 0
    }
    sleep 0.25
  done
  say "$name (pid $pid) is still running"
}

stop() {
  stop_pid_file slurmd "$root/slurmd.pid"
  stop_pid_file slurmctld "$root/slurmctld.pid"
  if [ -e "$root/started-munged" ]; then
    stop_pid_file munged /run/munge/munged.pid
    rm -f "$root/started-munged"
  fi
}

case "${1:-}" in
start) start ;;
stop) stop ;;
*)
  echo "usage: $0 start|stop" >&2
  exit 2
  ;;
esac
