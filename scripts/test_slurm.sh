#!/usr/bin/env bash
# `make test-slurm`: start a real single-node SLURM on localhost (Debian's slurmctld, slurmd, slurm-client,
# munge), run tests/e2e/slurm (a 2-job sweep with 2 DDP tasks per job through hydra/launcher=slurm, on the CPU; a
# ckpt_path=last job pre-empted after its first epoch, requeued and resumed), then stop every daemon it started, by
# PID, and delete its temp dir. Needs root (and apt if SLURM is missing). About 2.5 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}

if [[ $(id -u) != 0 ]]; then
  echo "test-slurm needs root: it starts munged, slurmctld and slurmd" >&2
  exit 1
fi
missing=0
for bin in munged slurmctld slurmd sbatch scontrol; do command -v "$bin" >/dev/null || missing=1; done
if [[ $missing == 1 ]]; then
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q slurmctld slurmd slurm-client munge
fi

dir=$(mktemp -d /tmp/colorization-slurm.XXXXXX)
status=1
cleanup() {
  tests/e2e/slurm/cluster.sh stop "$dir" || true
  if [[ $status != 0 ]]; then tail -n 30 "$dir"/*.log >&2 2>/dev/null || true; fi
  rm -rf "$dir"
}
trap cleanup EXIT

SLURM_CONF=$(tests/e2e/slurm/cluster.sh start "$dir")
# The sacct shim first on PATH: there is no accounting database (see tests/e2e/slurm/bin/sacct).
export SLURM_CONF PATH="$PWD/tests/e2e/slurm/bin:$PATH" COLORIZATION_TEST_SLURM=1 HF_HUB_OFFLINE=1 WANDB_MODE=offline
set +e
"$PY" -m pytest -q -p no:cacheprovider tests/e2e/slurm "$@"
status=$?
set -e
exit $status
