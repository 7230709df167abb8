"""``make gpu-check``: everything worth measuring the day a GPU is at hand, in one command of <= 8 minutes.

    python benchmarks/gpu_check.py              # a GPU machine: writes benchmarks/gpu_results.md (+ .json)
    python benchmarks/gpu_check.py --dry-run    # every step on the CPU at toy sizes, in about a minute

Four steps, each a subprocess with its own time limit (a step that runs over is reported as such and the rest go
on), so the whole check fits its budget and is safe to rerun (fresh run dirs; the synthetic data and the
inductor cache under ``--work-dir`` are reused). The report is rewritten after every step, so a check cut short
keeps what finished, and bench_gpu rewrites its own table after every model. The limits leave room for a cold
compile cache (a first run compiles the U-Net in bench_gpu and again, at its own batch, in the compile fit):
  1. ``bench_gpu``: the eager-fp32 / bf16+channels_last / +compile table with MFU, and the data paths;
  2. a ``trainer=gpu module.compile.enabled=true data.on_device=true`` fit on a Kaggle-shaped synthetic set
     (224 px): steady img/s and wall time;
  3. ``experiment=kaggle_study`` at 1/10 scale (2,500 images, 2 of 20 epochs, seed 1: every model x loss job):
     wall time, and the full study projected from each job's start-up and epoch times;
  4. ``hydra/launcher=gpus`` over the GPUs present: two short jobs per GPU, each job's GPU and wall time.
Timings need no ImageNet values, so ResNet-34 encoders start from a stand-in hub cache of timm-format random
weights (offline machines have no others); ``--real-weights`` uses the machine's own Hugging Face cache.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import lightning as L
import torch

from colorization.io.atomic import atomic_write
from colorization.io.json_files import write_json

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
FULL_IMAGES, FULL_EPOCHS, FULL_SEEDS = 25_000, 20, 3


class EpochClock(L.Callback):
    """Appends one JSON line per training epoch to ``out``: images, seconds from the end of the first batch to the
    end of the last (so steady img/s excludes the first batch's compilation), and the whole epoch's seconds
    (validation included). Loaded into training runs as ``+callbacks.epoch_clock``.

    It waits for the device only at those ends (the first batch, the last batch, the epoch's start and end): a
    synchronisation every batch would stall the queue it measures, as a ``.item()`` per step does."""

    def __init__(self, out: str, batch_size: int) -> None:
        self.out, self.batch_size = Path(out), int(batch_size)
        self.t_epoch = self.t_first = self.t_last = 0.0
        self.batches = 0

    def _now(self) -> float:
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        return time.perf_counter()

    def on_train_epoch_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self.t_epoch, self.batches = self._now(), 0

    def on_train_batch_end(self, trainer: L.Trainer, module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        self.batches += 1
        if self.batches == 1:
            self.t_first = self.t_last = self._now()
        elif batch_idx + 1 >= trainer.num_training_batches:
            self.t_last = self._now()

    def on_train_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        timed = self.batches - 1
        row = {"epoch": trainer.current_epoch, "images": self.batches * self.batch_size,
               "images_per_s": timed * self.batch_size / (self.t_last - self.t_first) if timed else None,
               "epoch_s": self._now() - self.t_epoch, "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES")}
        with open(self.out, "a") as f:
            f.write(json.dumps(row) + "\n")


def clock_overrides() -> list[str]:
    """Overrides that give a training run an :class:`EpochClock` writing ``<run dir>/clock.jsonl``."""
    return ["+callbacks.epoch_clock._target_=gpu_check.EpochClock",
            "+callbacks.epoch_clock.out=${paths.output_dir}/clock.jsonl",
            "+callbacks.epoch_clock.batch_size=${data.batch_size}"]


def read_clock(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []


def run_step(name: str, cmd: list[str], limit_s: float, env: dict[str, str], log_dir: Path) -> dict[str, Any]:
    """Run one step's command under its time limit: ``{name, command, rc, wall_s, timed_out, log}``."""
    log = log_dir / f"{name}.log"
    print(f"[gpu-check] {name}: {' '.join(cmd)}", flush=True)
    t0 = time.perf_counter()
    with open(log, "w") as f:
        try:
            rc = subprocess.run(cmd, cwd=REPO, env=env, stdout=f, stderr=subprocess.STDOUT, timeout=limit_s).returncode
        except subprocess.TimeoutExpired:
            rc = None
    wall = time.perf_counter() - t0
    print(f"[gpu-check] {name}: rc {rc}, {wall:.0f} s", flush=True)
    return {"name": name, "command": " ".join(cmd), "rc": rc, "wall_s": wall, "timed_out": rc is None, "log": str(log)}


def jobs_of(sweep_dir: Path) -> list[dict[str, Any]]:
    """Each job's status (``job_status.json``) and epoch clock, by job number."""
    jobs = []
    for status in sorted(sweep_dir.glob("*/job_status.json"), key=lambda p: int(p.parent.name)):
        s = json.loads(status.read_text())
        jobs.append({"job": int(status.parent.name), "status": s.get("status"), "overrides": s.get("overrides"),
                     "wall_s": s.get("wall_time_s"), "epochs": read_clock(status.parent / "clock.jsonl")})
    return jobs


def project_study(jobs: list[dict[str, Any]], scale_images: float, epochs: int) -> float | None:
    """Seconds for the full study: per job, start-up (wall - epochs) + 20 epochs each ``scale_images`` times
    longer, summed over this run's jobs and multiplied up to 3 seeds. None when a job lacks its times."""
    total = 0.0
    for j in jobs:
        if not j["wall_s"] or len(j["epochs"]) < epochs:
            return None
        epoch_s = [e["epoch_s"] for e in j["epochs"]]
        steady = epoch_s[-1]  # the first epoch carries cudnn autotuning and the first validation's set-up
        total += (j["wall_s"] - sum(epoch_s)) + FULL_EPOCHS * steady * scale_images
    return total * FULL_SEEDS


def _fmt(x: float | None, spec: str = ".0f") -> str:
    return "-" if x is None else format(x, spec)


def markdown(res: dict[str, Any], bench_md: Path) -> str:
    """The report: one section per step, with its command, exit status and wall time."""
    st = res["steps"]
    done = f"{res['seconds']:.0f} s in all" if "seconds" in res else "PARTIAL: steps still to run"
    out = [f"# GPU check{' (DRY RUN on CPU: figures mean nothing)' if res['dry_run'] else ''}", "",
           f"{res['date']}, {res['gpus']} x {res['card']}, torch {res['torch']}; `{res['command']}` "
           f"({done}; run dirs under `{res['run_dir']}`)", "",
           "| step | exit | wall s |", "|---|---:|---:|"]
    out += [f"| {n} | {'timed out' if s['timed_out'] else s['rc']} | {s['wall_s']:.0f} |" for n, s in st.items()]
    if "bench_gpu" in st and bench_md.is_file():
        out += ["", "## bench_gpu", "", bench_md.read_text().split("\n", 1)[1].strip()]
    if "compile_fit" in st:
        out += ["", "## compile fit (trainer=gpu module.compile.enabled=true data.on_device=true)", "",
                "| epoch | images | img/s (first batch excluded) | epoch s (with validation) |",
                "|---:|---:|---:|---:|"]
        out += [f"| {e['epoch']} | {e['images']} | {_fmt(e['images_per_s'])} | {e['epoch_s']:.1f} |"
                for e in st["compile_fit"]["epochs"]]
    for name in ("kaggle_study", "gpus_launcher"):
        if name not in st:
            continue
        title = {"kaggle_study": "kaggle_study at 1/10 scale (2,500 images, 2 epochs, seed 1)",
                 "gpus_launcher": "hydra/launcher=gpus"}[name]
        out += ["", f"## {title}", "",
                "| job | overrides | status | CUDA_VISIBLE_DEVICES | wall s | last epoch img/s |",
                "|---:|---|---|---|---:|---:|"]
        for j in st[name]["jobs"]:
            last = j["epochs"][-1] if j["epochs"] else {}
            swept = [o for o in j["overrides"] or [] if o.split("=")[0] in ("model", "loss", "seed")]
            out.append(f"| {j['job']} | {' '.join(swept)} | {j['status']} | "
                       f"{last.get('cuda_visible_devices') or '-'} | {_fmt(j['wall_s'])} | "
                       f"{_fmt(last.get('images_per_s'))} |")
        if name == "kaggle_study":
            proj = st[name]["projected_full_s"]
            proj_text = "-" if proj is None else f"{proj / 60:.0f} min"
            out += ["", f"Full study projected from these jobs (start-up + {FULL_EPOCHS} steady epochs of "
                    f"{st[name]['scale']:.0f}x the images, x {FULL_SEEDS} seeds): {proj_text} "
                    "(budget: 60 min on one H100)."]
    return "\n".join(out) + "\n"


def sizes(dry_run: bool) -> dict[str, Any]:
    """Step sizes and time limits (s); the dry run keeps every code path at toy sizes on the CPU."""
    if dry_run:
        return {"size": 32, "fit_images": 48, "study_images": 48, "batch": 8, "fit_epochs": 2, "study_epochs": 2,
                "limits": {"bench_gpu": 120, "compile_fit": 120, "kaggle_study": 240, "gpus_launcher": 120},
                "bench": ["--dry-run", "--models", "vanilla"],
                "cpu": ["trainer.accelerator=cpu", "trainer.precision=32-true", "trainer.benchmark=false",
                        "model.width=4", "data.image_size=32", "data.batch_size=8"],
                "fit": ["model=vanilla", "module.compile.backend=eager"], "study_models": "vanilla"}
    return {"size": 224, "fit_images": 4096, "study_images": FULL_IMAGES // 10, "batch": 128, "fit_epochs": 3,
            "study_epochs": FULL_EPOCHS // 10,
            # Seconds; 450 in all, plus the synthetic data's first write: under 8 minutes. bench_gpu measures the
            # bandwidth-bound vanilla and the U-Net (resnet34 adds a third cold compile and little news).
            "limits": {"bench_gpu": 150, "compile_fit": 130, "kaggle_study": 110, "gpus_launcher": 60},
            "bench": ["--steps", "20", "--warmup", "5", "--profile-top", "8", "--models", "vanilla",
                      "unet-resnet34"], "cpu": [],
            "fit": ["model=unet"], "study_models": None}


def commands(sz: dict[str, Any], data: dict[str, Path], run_dir: Path, work: Path, gpus: int,
             dry_run: bool) -> dict[str, list[str]]:
    """The command line of every step, by name (run from the repository root)."""
    py, train = sys.executable, str(REPO / "train.py")
    kaggle = ["data=kaggle", f"data.batch_size={sz['batch']}", f"data.image_size={sz['size']}"]
    return {
        "bench_gpu": [py, str(HERE / "bench_gpu.py"), *sz["bench"], "--out", str(run_dir / "bench_gpu.md"),
                      "--data-dir", str(work / "data" / "bench")],
        "compile_fit": [py, train, "trainer=gpu", "module.compile.enabled=true", "data.on_device=true", *kaggle,
                        f"data.root={data['fit']}", "loss=l1", f"trainer.max_epochs={sz['fit_epochs']}", "test=false",
                        "logger=csv", f"hydra.run.dir={run_dir / 'compile_fit'}", *sz["fit"], *sz["cpu"],
                        *clock_overrides()],
        "kaggle_study": [py, train, "experiment=kaggle_study", f"data.root={data['study']}", *kaggle[1:],
                         f"trainer.max_epochs={sz['study_epochs']}", "hydra.sweeper.params.seed=1",
                         f"hydra.sweep.dir={run_dir / 'kaggle_study'}", *sz["cpu"], *clock_overrides()]
        + ([f"hydra.sweeper.params.model={sz['study_models']}"] if sz["study_models"] else []),
        "gpus_launcher": [py, train, "-m", "hydra/launcher=gpus", "trainer=gpu", "model=vanilla", "loss=l1",
                          "seed=" + ",".join(str(s) for s in range(1, 2 * max(gpus, 2) + 1)), *kaggle,
                          f"data.root={data['study']}", "data.on_device=true", "trainer.max_epochs=1", "test=false",
                          "logger=csv", f"hydra.sweep.dir={run_dir / 'gpus_launcher'}", *sz["cpu"],
                          *clock_overrides()] + (["hydra.launcher.num_gpus=2"] if dry_run else []),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dry-run", action="store_true", help="every step on the CPU at toy sizes")
    p.add_argument("--out", default=None, help="markdown report (default benchmarks/gpu_results.md)")
    p.add_argument("--work-dir", default=os.path.join(tempfile.gettempdir(), "colorization_gpu_check"))
    p.add_argument("--skip", nargs="*", default=[], choices=["bench_gpu", "compile_fit", "kaggle_study",
                                                              "gpus_launcher"])
    p.add_argument("--real-weights", action="store_true", help="the machine's own HF cache, not stand-in weights")
    args = p.parse_args(argv)
    gpus = torch.cuda.device_count()
    if not args.dry_run and not gpus:
        sys.exit("gpu_check: no CUDA device here; use --dry-run to check the script on a CPU")
    out = Path(args.out or (os.path.join(tempfile.gettempdir(), "colorization_gpu_check_dryrun.md") if args.dry_run
                            else HERE / "gpu_results.md"))
    sz = sizes(args.dry_run)
    work = Path(args.work_dir)
    run_dir = work / "runs" / f"{datetime.datetime.now():%Y%m%d-%H%M%S}-{os.getpid()}"
    run_dir.mkdir(parents=True)
    sys.path.insert(0, str(HERE))
    from bench_data import write_synthetic

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
           "HF_HUB_OFFLINE": "1", "WANDB_MODE": "offline", "WANDB_SILENT": "true",
           # Kept between steps and reruns: a second check compiles nothing it compiled before.
           "TORCHINDUCTOR_CACHE_DIR": str(work / "inductor")}
    if not args.real_weights:
        sys.path.insert(0, str(REPO))
        from tests.support.hf_cache import write_timm_weights

        env["HF_HOME"] = str(work / "hf")
        write_timm_weights(work / "hf", "resnet34")
    data = {k: write_synthetic(work / "data" / f"n{n}_s{sz['size']}", n, sz["size"], per_file=max(1, n * 2 // 5))
            for k, n in (("fit", sz["fit_images"]), ("study", sz["study_images"]))}
    steps = commands(sz, data, run_dir, work, gpus, args.dry_run)
    res: dict[str, Any] = {"dry_run": args.dry_run, "gpus": gpus, "date": datetime.date.today().isoformat(),
                           "card": torch.cuda.get_device_name(0) if gpus else "CPU (dry run)",
                           "torch": torch.__version__,
                           "command": "python benchmarks/gpu_check.py " + " ".join(argv if argv is not None
                                                                                  else sys.argv[1:]),
                           "run_dir": str(run_dir), "steps": {}}
    t0 = time.perf_counter()
    for name, cmd in steps.items():
        if name in args.skip:
            continue
        step = run_step(name, cmd, sz["limits"][name], env, run_dir)
        if name == "compile_fit":
            step["epochs"] = read_clock(run_dir / "compile_fit" / "clock.jsonl")
        if name in ("kaggle_study", "gpus_launcher"):
            step["jobs"] = jobs_of(run_dir / name)
        if name == "kaggle_study":
            scale = FULL_IMAGES / sz["study_images"]
            step["scale"] = scale
            step["projected_full_s"] = project_study(step["jobs"], scale, sz["study_epochs"])
        res["steps"][name] = step
        write_report(res, run_dir / "bench_gpu.md", out)  # what finished so far, should the check be cut short
    res["seconds"] = time.perf_counter() - t0
    text = write_report(res, run_dir / "bench_gpu.md", out)
    print(text + f"\nwrote {out} and {out.with_suffix('.json')}")
    return res


def write_report(res: dict[str, Any], bench_md: Path, out: Path) -> str:
    """The report so far as Markdown at ``out`` and JSON beside it (each written whole, atomically)."""
    text = markdown(res, bench_md)
    atomic_write(out, text)
    write_json(out.with_suffix(".json"), res)
    return text


if __name__ == "__main__":
    main()
