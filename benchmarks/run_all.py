"""``make bench``: framework overhead, data-path headroom and inference speed on the CPU, side by side.

    python benchmarks/run_all.py                 # the full CPU run (a few minutes on 2 cores)
    python benchmarks/run_all.py --quick         # every code path in seconds, tiny sizes (the test suite runs this)

Prints a table with the goals beside the figures and writes ``benchmarks/results.json`` (``--out``) holding
``framework_overhead_ratio`` (Trainer step time / bare-loop step time), ``data_headroom_ratio`` (data-path
images/s / the fastest model's training images/s), ``ce_l1_step_ratio`` (per model: a ``ce`` training step's time
/ an ``l1`` step's, measured in alternating rounds), the figures behind them, the machine and its load average.
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import os
import platform
import subprocess
import sys
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # the sibling benchmark scripts

from colorization import prefer_passive_omp_waits  # noqa: E402

prefer_passive_omp_waits()  # OMP_WAIT_POLICY, before torch loads OpenMP

# isort: split
import torch  # noqa: E402
from bench_data import measure_loader, warm_page_cache, write_synthetic  # noqa: E402
from bench_train import (  # noqa: E402
    MODELS,
    framework_overhead,
    loss_step_ratio,
    predict_images_per_s,
    train_images_per_s,
)

from colorization.data.augment import BatchAugment  # noqa: E402

GOALS = {"framework_overhead_ratio": 1.03, "data_headroom_ratio": 20.0, "loader_images_per_s": 5000.0,
         "ce_l1_step_ratio": 1.5}


def machine() -> dict:
    """CPU model, core count, torch version and the load average now (the machine may be shared)."""
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        model = next((ln.split(":", 1)[1].strip() for ln in lscpu.splitlines() if ln.startswith("Model name")), "")
    except OSError:
        model = platform.processor()
    return {"cpu": model, "cores": os.cpu_count(), "torch": torch.__version__, "threads": torch.get_num_threads(),
            "python": platform.python_version(), "date": datetime.date.today().isoformat()}


def load() -> float:
    return round(os.getloadavg()[0], 2)


def data_set(args: argparse.Namespace) -> Path:
    """The Kaggle-shaped synthetic set: the 25,000-image one when ``bench_data.py`` already wrote it."""
    full = Path(args.data_dir) / f"n25000_s{args.size}"
    if args.n is None and (full / "done").is_file():
        return full
    n = args.n or 2000
    return write_synthetic(Path(args.data_dir) / f"n{n}_s{args.size}", n, args.size, per_file=max(1, n * 2 // 5))


def run(args: argparse.Namespace) -> dict:
    res: dict = {"machine": machine(), "goals": GOALS, "load_start": load()}
    t0 = time.perf_counter()

    ov_model = MODELS[args.overhead_model]
    res["overhead"] = framework_overhead(ov_model, args.overhead_size, args.overhead_batch, args.overhead_steps,
                                         args.overhead_rounds)
    res["overhead"]["load"] = load()

    root = data_set(args)
    aug = BatchAugment(hflip_p=0.5, crop_scale=(0.6, 1.0), crop_ratio=(0.75, 4 / 3), size=args.size)  # conf/data
    res["data"] = {"root": str(root), "runs": [], "page_cache_warm_s": warm_page_cache(root)}
    for normalise, a in ((False, None), (True, None), (True, aug)):
        r = measure_loader(root, args.data_batch, 0, True, args.data_batches, normalise, aug=a)
        r["load"] = load()
        res["data"]["runs"].append(r)
    data_ips = res["data"]["runs"][-1]["images_per_s"]

    res["models"] = {}
    for name in args.models:
        m = MODELS[name]
        res["models"][name] = {
            "train_images_per_s": train_images_per_s(m, args.size, args.model_batch, args.train_steps),
            "predict_images_per_s": predict_images_per_s(m, args.size, args.model_batch, args.predict_reps),
            "batch": args.model_batch, "size": args.size, "load": load()}
    res["loss_ratio"] = {}
    for name in args.loss_ratio_models:
        r = loss_step_ratio(MODELS[name], args.size, args.model_batch, args.loss_ratio_steps, args.loss_ratio_rounds)
        res["loss_ratio"][name] = {**r, "load": load()}
    res["ce_l1_step_ratio"] = {name: r["ratio"] for name, r in res["loss_ratio"].items()}
    fastest = max(res["models"], key=lambda k: res["models"][k]["train_images_per_s"])
    res["framework_overhead_ratio"] = res["overhead"]["ratio"]
    res["data_headroom_ratio"] = data_ips / res["models"][fastest]["train_images_per_s"]
    res["data_headroom_vs"] = fastest
    res["loader_images_per_s"] = res["data"]["runs"][1]["images_per_s"]
    res["seconds"] = time.perf_counter() - t0
    res["load_end"] = load()
    return res


def table(res: dict) -> str:
    """The human-readable summary: ratios first, goals beside them."""
    ov, m = res["overhead"], res["machine"]
    ok = {True: "ok", False: "MISSED"}
    lines = [f"CPU benchmarks, {m['date']}: {m['cpu']}, {m['cores']} cores, torch {m['torch']} "
             f"({m['threads']} threads); load average {res['load_start']} -> {res['load_end']}", "",
             f"{'figure':<46} {'value':>12} {'goal':>10}  status  load"]

    def row(name: str, value: str, goal: str, good: bool | None, ld: float | str) -> None:
        lines.append(f"{name:<46} {value:>12} {goal:>10}  {ok[good] if good is not None else '':<6}  {ld}")

    r = res["framework_overhead_ratio"]
    row("framework overhead (Trainer / bare step)", f"{r:.3f}", "<= 1.03", r <= GOALS["framework_overhead_ratio"],
        ov["load"])
    h = res["data_headroom_ratio"]
    row(f"data headroom (augmented data / {res['data_headroom_vs']} train)", f"{h:.0f}x", ">= 20x",
        h >= GOALS["data_headroom_ratio"], res["data"]["runs"][-1]["load"])
    lp = res["loader_images_per_s"]
    row("loader -> normalised floats (img/s)", f"{lp:.0f}", ">= 5000", lp >= GOALS["loader_images_per_s"],
        res["data"]["runs"][1]["load"])
    for name, r in res["loss_ratio"].items():
        row(f"ce / l1 train step ({name} {r['size']}px batch {r['batch']})", f"{r['ratio']:.2f}x", "<= 1.5x",
            r["ratio"] <= GOALS["ce_l1_step_ratio"], r["load"])
    lines.append("")
    lines.append(f"overhead detail: {ov['model']} {ov['size']}px batch {ov['batch']}, {ov['rounds']} paired rounds, "
                 f"{ov['steps']} steps each side: bare {ov['bare_step_s'] * 1000:.1f} ms (IQR "
                 f"{ov['bare_iqr_s'] * 1000:.1f}), Trainer {ov['trainer_step_s'] * 1000:.1f} ms (IQR "
                 f"{ov['trainer_iqr_s'] * 1000:.1f}); per-round ratios "
                 + " ".join(f"{x:.3f}" for x in ov["round_ratios"]))
    for name, r in res["loss_ratio"].items():
        lines.append(f"ce / l1 detail: {name}, {r['rounds']} alternating rounds, {r['steps']} steps each side: "
                     f"ce {r['ce_step_s'] * 1000:.1f} ms, l1 {r['l1_step_s'] * 1000:.1f} ms; per-round ratios "
                     + " ".join(f"{x:.2f}" for x in r["round_ratios"]))
    for d in res["data"]["runs"]:
        what = "uint8 batches" if not d["normalise"] else ("normalised + augmented" if d["augment"] else "normalised")
        row(f"data: memmap -> {what} (img/s)", f"{d['images_per_s']:.0f}", "", None, d["load"])
    for name, v in res["models"].items():
        row(f"{name} {v['size']}px batch {v['batch']}: train img/s", f"{v['train_images_per_s']:.2f}", "", None,
            v["load"])
        row(f"{name} {v['size']}px batch {v['batch']}: predict_step img/s", f"{v['predict_images_per_s']:.2f}", "",
            None, v["load"])
    lines.append(f"\ntotal {res['seconds']:.0f} s; data from {res['data']['root']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny sizes: every code path in seconds")
    p.add_argument("--out", default=str(HERE / "results.json"))
    p.add_argument("--data-dir", default="/tmp/colorization_bench_kaggle")
    p.add_argument("--n", type=int, default=None, help="images in the synthetic set (default: reuse 25000 or 2000)")
    p.add_argument("--size", type=int, default=224, help="image side for the data path and the models")
    p.add_argument("--data-batch", type=int, default=64)
    p.add_argument("--data-batches", type=int, default=30)
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    p.add_argument("--model-batch", type=int, default=8)
    p.add_argument("--train-steps", type=int, default=3)
    p.add_argument("--predict-reps", type=int, default=3)
    p.add_argument("--overhead-model", default="vanilla", choices=list(MODELS))
    p.add_argument("--overhead-size", type=int, default=224)
    p.add_argument("--overhead-batch", type=int, default=8)
    p.add_argument("--overhead-steps", type=int, default=20)
    p.add_argument("--overhead-rounds", type=int, default=6)
    p.add_argument("--loss-ratio-models", nargs="+", default=["vanilla", "unet-resnet34"], choices=list(MODELS),
                   help="models whose ce / l1 training step ratio is measured (at --size, --model-batch)")
    p.add_argument("--loss-ratio-steps", type=int, default=5)
    p.add_argument("--loss-ratio-rounds", type=int, default=4)
    args = p.parse_args(argv)
    if args.quick:
        args.n, args.size, args.data_batch, args.data_batches = args.n or 48, 32, 8, 3
        args.model_batch, args.train_steps, args.predict_reps = 2, 2, 1
        args.overhead_size, args.overhead_batch, args.overhead_steps, args.overhead_rounds = 32, 2, 3, 1
        args.loss_ratio_steps, args.loss_ratio_rounds = 2, 2

    # Quiet: Lightning's tips and warnings would bury the table.
    warnings.filterwarnings("ignore")
    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)
    res = run(args)
    print(table(res))
    Path(args.out).write_text(json.dumps(res, indent=2, default=float) + "\n")
    print(f"wrote {args.out}")
    return res


if __name__ == "__main__":
    main()
