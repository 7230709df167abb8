"""``make bench-gpu``: training speed on one GPU, eager fp32 against the project's fast path, with MFU.

    python benchmarks/bench_gpu.py                       # one GPU, 224 px, batch 128: a few minutes
    python benchmarks/bench_gpu.py --dry-run             # every code path on the CPU with tiny sizes, in seconds

For vanilla, resnet34 and unet-resnet34 it measures images/s and step time of
  1. ``eager fp32``: a plain PyTorch loop (the net, AdamW, L1), fp32, no channels_last, no Lightning;
  2. ``project mixed+cl``: ``ColorizationModule`` under the real ``Trainer`` as ``trainer=gpu`` runs it
     (channels_last, cudnn benchmark, and the mixed precision training would choose for this card:
     ``colorization.training.precision``, bf16-mixed from compute capability 8.0, else 16-mixed; ``--precision``
     overrides);
  3. ``project mixed+cl+compile``: the same with ``module.compile.enabled=true``;
with FLOPs per image (forward + backward, ``torch.utils.flop_counter``), achieved TFLOP/s and MFU against the
card's dense bf16 / fp16 tensor-core peak, peak memory, and the data path (memmap -> pinned DataLoader -> GPU
augmentation against ``data.on_device=true``). Batches are uint8 LAB already on the GPU, converted in the step as
in training, so the model figures measure the model and the framework, not the disk. Writes a markdown report to
stdout and ``--out`` (default ``benchmarks/gpu_results.md``) plus a JSON file beside it, rewritten after each
model, so a run cut short (a time limit, a cold compile cache) keeps the rows it finished.
"""

from __future__ import annotations

import argparse
import datetime
import logging
import sys
import time
import warnings
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from colorization import prefer_passive_omp_waits  # noqa: E402

prefer_passive_omp_waits()  # OMP_WAIT_POLICY, before torch loads OpenMP

# isort: split
import lightning as L  # noqa: E402
import torch  # noqa: E402
from bench_train import MODELS, OPTIMIZER, InMemoryData, make_batches  # noqa: E402
from gpu_probes import data_paths, profile_top_kernels, sync  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from colorization.data.augment import prepare_batch  # noqa: E402
from colorization.io.atomic import atomic_write  # noqa: E402
from colorization.io.json_files import write_json  # noqa: E402
from colorization.losses import create_loss  # noqa: E402
from colorization.models import create_model  # noqa: E402
from colorization.training.module import ColorizationModule  # noqa: E402
from colorization.training.precision import resolve_precision  # noqa: E402

# Dense bf16 tensor-core peaks in TFLOP/s (vendor datasheets, without sparsity); fp16 is the same on these
# cards. First match wins, so the specific names come before "H100". The issue's ~790 is below the H100 SXM
# figure used here; --peak-tflops overrides it. Cards without native bf16 train in fp16: their fp16 peaks.
PEAK_BF16_TFLOPS = [("H200", 989.4), ("H100 PCIe", 756.0), ("H100 NVL", 835.0), ("H100", 989.4),
                    ("A100", 312.0), ("L40S", 362.1), ("L4", 121.0), ("A10", 125.0)]
PEAK_FP16_TFLOPS = [("T4", 65.0), ("V100", 125.0), ("P100", 18.7)]
UNET_GOAL = {"images_per_s": 6000.0, "speedup_vs_eager": 3.0}


def card_peak(device: torch.device, override: float | None) -> tuple[str, float | None]:
    """``(card name, dense tensor-core peak TFLOP/s in the precision it trains in, or None when unknown)``."""
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU (dry run)"
    if override:
        return name, override
    return name, next((p for key, p in PEAK_BF16_TFLOPS + PEAK_FP16_TFLOPS if key in name), None)


def flops_per_image(model: dict[str, Any], size: int, device: torch.device) -> float:
    """Forward + backward FLOPs of one image at ``size`` px (counted on a batch of 2, fp32)."""
    loss = create_loss("l1")
    net = create_model(model["name"], out_channels=loss.out_channels,
                       **{k: v for k, v in model.items() if k != "name"}).to(device)
    x = torch.randn(2, 1, size, size, device=device)
    with FlopCounterMode(display=False) as counter:
        net(x).float().mean().backward()
    return counter.get_total_flops() / 2


def _reset_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def _peak_gb(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / 1e9 if device.type == "cuda" else None


def eager_fp32(model: dict[str, Any], batches: list[torch.Tensor], steps: int, warmup: int,
               device: torch.device) -> dict[str, float]:
    """A plain PyTorch training loop in fp32: the baseline every speed-up is measured against."""
    loss_fn = create_loss("l1")
    torch.manual_seed(0)
    net = create_model(model["name"], out_channels=loss_fn.out_channels,
                       **{k: v for k, v in model.items() if k != "name"}).to(device)
    opt = torch.optim.AdamW(net.parameters(), lr=OPTIMIZER["lr"])
    t_start = time.perf_counter()
    for i in range(warmup + steps):
        if i == warmup:
            sync(device)
            t0 = time.perf_counter()
        L_, ab = prepare_batch(batches[i % len(batches)])
        loss = loss_fn(net(L_), ab)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    sync(device)
    return {"seconds": time.perf_counter() - t0, "warmup_s": t0 - t_start}


class _SyncClock(L.Callback):
    """Wall time of the steps after ``warmup``, synchronised with the device at both ends."""

    def __init__(self, warmup: int, device: torch.device) -> None:
        self.warmup, self.device = warmup, device
        self.t_fit = self.t0 = self.t1 = 0.0

    def on_train_start(self, *args: Any) -> None:
        self.t_fit = time.perf_counter()

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        if trainer.global_step == self.warmup:
            sync(self.device)
            self.t0 = time.perf_counter()
        if trainer.global_step == trainer.max_steps:
            sync(self.device)
        self.t1 = time.perf_counter()


def project(model: dict[str, Any], batches: list[torch.Tensor], steps: int, warmup: int, device: torch.device,
            compile_net: bool, compile_backend: str, precision: str) -> dict[str, float]:
    """``ColorizationModule`` under the real Trainer with ``trainer=gpu`` settings (``precision``, channels_last)."""
    torch.manual_seed(0)
    # Dry runs pass backend "eager": inductor needs minutes of C++ compilation on a CPU, and another backend
    # still runs the torch.compile code path.
    module = ColorizationModule(model=dict(model), loss={"name": "l1"}, optimizer=dict(OPTIMIZER), channels_last=True,
                                compile={"enabled": compile_net, "backend": compile_backend})
    clock = _SyncClock(warmup, device)
    trainer = L.Trainer(accelerator="gpu" if device.type == "cuda" else "cpu", devices=1, precision=precision,
                        benchmark=device.type == "cuda", max_steps=warmup + steps, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        num_sanity_val_steps=0, limit_val_batches=0, callbacks=[clock])
    feed = InMemoryData([batches[i % len(batches)] for i in range(warmup + steps)])
    trainer.fit(module, datamodule=feed)
    return {"seconds": clock.t1 - clock.t0, "warmup_s": clock.t0 - clock.t_fit}


MODES = {
    "eager fp32": lambda m, b, a: eager_fp32(m, b, a.steps, a.warmup, a.device),
    "project mixed+cl": lambda m, b, a: project(m, b, a.steps, a.warmup, a.device, False, a.compile_backend,
                                                a.precision),
    "project mixed+cl+compile": lambda m, b, a: project(m, b, a.steps, a.warmup, a.device, True, a.compile_backend,
                                                        a.precision),
}


def measure_model(name: str, args: argparse.Namespace, peak: float | None) -> list[dict[str, Any]]:
    """Every mode for one model; halves the batch on out-of-memory."""
    model = MODELS[name]
    flops = flops_per_image(model, args.size, args.device)
    rows = []
    for mode, fn in MODES.items():
        batch = args.batch
        while True:
            try:
                batches = [b.to(args.device) for b in make_batches(2, batch, args.size)]
                _reset_memory(args.device)
                r = fn(model, batches, args)
                break
            except torch.OutOfMemoryError:
                del batches
                batch //= 2
                if batch < 1:
                    raise
        ips = batch * args.steps / r["seconds"]
        tflops = flops * ips / 1e12
        rows.append({"model": name, "mode": mode, "batch": batch, "step_ms": 1000 * r["seconds"] / args.steps,
                     "images_per_s": ips, "gflop_per_image": flops / 1e9, "tflops": tflops,
                     "mfu": tflops / peak if peak else None, "peak_mem_gb": _peak_gb(args.device),
                     "warmup_s": r["warmup_s"]})
        print(f"  {name:<14} {mode:<24} batch {batch:>4}: {ips:10.1f} img/s", flush=True)
    return rows


def markdown(res: dict[str, Any]) -> str:
    m = res["machine"]
    dtype = "fp16" if res["precision"] == "16-mixed" else "bf16"
    peak = f"{m['peak_tflops']:.0f} TFLOP/s dense {dtype}" if m["peak_tflops"] else "unknown peak (no MFU)"
    partial = "" if "seconds" in res else " (PARTIAL: the run stopped before the end)"
    out = [f"# GPU benchmark{' (DRY RUN on CPU: figures mean nothing)' if res['dry_run'] else ''}{partial}", "",
           f"{m['date']}, {m['card']} ({peak}), torch {m['torch']}, mixed precision {res['precision']} (as "
           f"training chooses it), {res['size']} px, "
           f"{res['steps']} timed steps after {res['warmup']} warm-up; `{res['command']}`", "",
           "| model | mode | batch | step ms | img/s | GFLOP/img (fwd+bwd) | TFLOP/s | MFU | peak mem GB | warm-up s |",
           "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in res["models"]:
        mfu = f"{100 * r['mfu']:.1f}%" if r["mfu"] is not None else "-"
        mem = f"{r['peak_mem_gb']:.1f}" if r["peak_mem_gb"] is not None else "-"
        out.append(f"| {r['model']} | {r['mode']} | {r['batch']} | {r['step_ms']:.1f} | {r['images_per_s']:.0f} | "
                   f"{r['gflop_per_image']:.2f} | {r['tflops']:.1f} | {mfu} | {mem} | {r['warmup_s']:.1f} |")
    out += ["", "| model | fast path / eager fp32 |", "|---|---:|"]
    for name, s in res.get("speedups", {}).items():
        out.append(f"| {name} | {s:.2f}x |")
    u = res.get("unet_goal")
    if u:
        out += ["", f"unet-resnet34 goal: >= {UNET_GOAL['images_per_s']:.0f} img/s and >= "
                f"{UNET_GOAL['speedup_vs_eager']:.0f}x eager: {u['images_per_s']:.0f} img/s, {u['speedup']:.2f}x "
                f"-> {'met' if u['met'] else 'not met'}"]
    out += ["", "| data path (augmented on the device) | img/s | set-up s |", "|---|---:|---:|"]
    for d in res.get("data", []):
        out.append(f"| {d['path']} | {d['images_per_s']:.0f} | {d['setup_s']:.1f} |")
    if res.get("profile"):
        out += ["", f"Top kernels, {res['profiled']} {dtype} + channels_last (eager), per step:", "",
                "| kernel / op | ms per step | share | calls |", "|---|---:|---:|---:|"]
        for p in res["profile"]:
            out.append(f"| `{p['name']}` | {p['ms_per_step']:.2f} | {100 * p['share']:.1f}% | {p['calls']} |")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dry-run", action="store_true", help="CPU, tiny sizes, every code path in seconds")
    p.add_argument("--out", default=None, help="markdown report (default benchmarks/gpu_results.md)")
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--batch", type=int, default=128, help="halved on out-of-memory")
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--warmup", type=int, default=8, help="untimed steps first (cudnn autotune, compilation)")
    p.add_argument("--peak-tflops", type=float, default=None, help="override the card's dense tensor-core peak")
    p.add_argument("--precision", default="auto",
                   help="the project modes' mixed precision; auto: as training resolves it for this card")
    p.add_argument("--compile-backend", default="inductor")
    p.add_argument("--data-dir", default="/tmp/colorization_bench_kaggle")
    p.add_argument("--data-n", type=int, default=8192, help="images in the synthetic Kaggle-layout set")
    p.add_argument("--loader-workers", type=int, nargs="+", default=[0, 4])
    p.add_argument("--profile-top", type=int, default=12, help="0 skips the profile")
    args = p.parse_args(argv)
    if args.dry_run:
        args.size, args.batch, args.steps, args.warmup, args.data_n = 32, 2, 2, 1, 8
        args.compile_backend, args.loader_workers, args.profile_top = "eager", [0], 3
        args.device = torch.device("cpu")
        out = Path(args.out or "/tmp/colorization_gpu_dryrun.md")
    else:
        if not torch.cuda.is_available():
            sys.exit("bench_gpu: no CUDA device here; use --dry-run to check the script on a CPU")
        args.device = torch.device("cuda")
        out = Path(args.out or HERE / "gpu_results.md")
    warnings.filterwarnings("ignore")
    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)
    # Every mode gets cudnn autotuning (the Trainer's benchmark=True would otherwise leak into later eager runs
    # only); TF32 stays at PyTorch's defaults, which is what a plain fp32 loop gets.
    torch.backends.cudnn.benchmark = args.device.type == "cuda"

    args.precision = resolve_precision(args.precision)  # "auto": this card's choice, logged as training logs it
    card, peak = card_peak(args.device, args.peak_tflops)
    res: dict[str, Any] = {
        "dry_run": args.dry_run, "size": args.size, "steps": args.steps, "warmup": args.warmup,
        "precision": args.precision,
        "command": "python benchmarks/bench_gpu.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": {"card": card, "peak_tflops": peak, "torch": torch.__version__,
                    "date": datetime.date.today().isoformat()}, "models": [], "speedups": {}}
    t0 = time.perf_counter()
    for name in args.models:
        res["models"] += measure_model(name, args, peak)
        by_mode = {r["mode"]: r["images_per_s"] for r in res["models"] if r["model"] == name}
        res["speedups"][name] = max(by_mode["project mixed+cl"], by_mode["project mixed+cl+compile"]) / by_mode[
            "eager fp32"]
        write_report(res, out)  # each model's rows as soon as they exist
    if "unet-resnet34" in args.models:
        best = max(r["images_per_s"] for r in res["models"] if r["model"] == "unet-resnet34")
        s = res["speedups"]["unet-resnet34"]
        res["unet_goal"] = {"images_per_s": best, "speedup": s,
                            "met": best >= UNET_GOAL["images_per_s"] and s >= UNET_GOAL["speedup_vs_eager"]}
    res["data"] = data_paths(args)
    write_report(res, out)
    # The U-Net when it was measured (the goal model), else the last model measured.
    res["profiled"] = "unet-resnet34" if "unet-resnet34" in args.models else args.models[-1]
    res["profile"] = profile_top_kernels(args, res["profiled"], args.profile_top) if args.profile_top > 0 else []
    res["seconds"] = time.perf_counter() - t0
    text = write_report(res, out)
    print(text)
    print(f"wrote {out} and {out.with_suffix('.json')}")
    return res


def write_report(res: dict[str, Any], out: Path) -> str:
    """The report so far, as Markdown at ``out`` and JSON beside it (each written whole, atomically)."""
    text = markdown(res) + (f"\ntotal {res['seconds']:.0f} s\n" if "seconds" in res else "")
    atomic_write(out, text)
    write_json(out.with_suffix(".json"), res)
    return text


if __name__ == "__main__":
    main()
