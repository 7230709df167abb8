"""``colorization resume SWEEP_DIR [--failed] [--dry-run]``: continue a sweep that stopped (a signal, a killed driver,
a pre-empted node, a crash), in the same dir, with the launcher it was started with.

The sweep's ``sweep.json`` holds its command line and working dir; the command runs again there with
``hydra.sweep.dir=SWEEP_DIR`` and :data:`~colorization.runs.sweep_dir.RESUME_ENV` set, so the sweep dir guard lets it
in and the launcher keeps, continues or runs each job as :mod:`colorization.runs.sweep_resume` says. Every job
keeps its dir and number, and the summary at the end covers every job as if the sweep had never stopped.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from colorization.runs.sweep_dir import RESUME_ENV, RESUME_FAILED_ENV, lock_holder, read_record
from colorization.runs.sweep_resume import JobStillRunning, plan_job

__all__ = ["main", "resume_command"]


def _is_sweep_dir_override(arg: str) -> bool:
    return arg.lstrip("+~").split("=", 1)[0] == "hydra.sweep.dir"


def resume_command(record: dict, sweep_dir: Path) -> list[str]:
    """The sweep's recorded command (``python <script> <args>``) with ``hydra.sweep.dir`` set to ``sweep_dir``."""
    from colorization.distributed.command import quote_override

    args = [a for a in record["command"] if not _is_sweep_dir_override(a)]
    return [sys.executable, *args, f"hydra.sweep.dir={quote_override(str(sweep_dir))}"]


def _fail(message: str) -> int:
    print(message, file=sys.stderr)
    return 1


def main(argv: Sequence[str] | None = None, prog: str = "colorization resume") -> int:
    p = argparse.ArgumentParser(prog=prog, description=(
        "Continue a stopped sweep in its own dir, with the launcher it was started with: ok jobs are kept, "
        "interrupted ones continue from their checkpoints/last.ckpt, the others run (failed ones with --failed)."))
    p.add_argument("sweep_dir", type=Path, help="the sweep's dir (hydra.sweep.dir), e.g. multirun/<date>/<time>-<pid>")
    p.add_argument("--failed", action="store_true", help="start failed (and diverged) jobs over as well")
    p.add_argument("--dry-run", action="store_true", help="print what would happen to each job; run nothing")
    args = p.parse_args(argv)
    sweep_dir = args.sweep_dir.absolute()
    if not sweep_dir.is_dir():
        return _fail(f"{args.sweep_dir} is not a directory: pass a sweep dir (hydra.sweep.dir of a `train.py -m` run)")
    record = read_record(sweep_dir)
    if record is None:
        return _fail(f"{sweep_dir} has no readable sweep.json: only a sweep started by `train.py -m` of this "
                     "version can be resumed; start it again into a new hydra.sweep.dir")
    holder = lock_holder(sweep_dir)
    if holder is not None:
        return _fail(f"the sweep in {sweep_dir} is still running ({holder}): wait for it to end, or stop it, then "
                     "resume")
    jobs = sorted(record.get("jobs", {}).items(), key=lambda kv: int(kv[0]))
    try:
        plans = [plan_job(sweep_dir / job["dir"], int(num), job["overrides"], args.failed) for num, job in jobs]
    except JobStillRunning as e:
        return _fail(str(e))
    print(f"sweep {sweep_dir} ({record.get('launcher') or 'sequential'} launcher, {len(plans)} jobs recorded):")
    for plan in plans:
        print(f"  {plan.describe()}")
    if record.get("sweeper") == "optuna":
        print("  then Optuna asks the trials still missing towards hydra.sweeper.n_trials")
    command = resume_command(record, sweep_dir)
    if args.dry_run:
        print(f"would run, in {record['cwd']}: {' '.join(command)}")
        return 0
    if not Path(record["cwd"]).is_dir():
        return _fail(f"the sweep was started in {record['cwd']}, which no longer exists: the command's relative "
                     "paths would point elsewhere")
    env = {**os.environ, RESUME_ENV: str(sweep_dir), RESUME_FAILED_ENV: "1" if args.failed else "0"}
    sys.stdout.flush()
    os.chdir(record["cwd"])
    os.execve(sys.executable, command, env)  # the sweep's own driver from here: its signals, its exit status
    return 0  # not reached
