"""Parts of ``make bench-gpu`` beside the model timings: the data path and the top kernels of a U-Net step."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import torch
from bench_data import write_synthetic
from bench_train import MODELS, OPTIMIZER, make_batches

from colorization.data.augment import BatchAugment, prepare_batch
from colorization.data.datamodule import ColorizationDataModule
from colorization.data.kaggle import KaggleLabDataset
from colorization.data.on_device import DeviceBatchLoader, load_to_device
from colorization.training.module import ColorizationModule


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def data_paths(args: argparse.Namespace) -> list[dict[str, Any]]:
    """images/s of memmap -> DataLoader (pinned, non_blocking) -> GPU augmentation, and of ``on_device``."""
    root = write_synthetic(Path(args.data_dir) / f"n{args.data_n}_s{args.size}", args.data_n, args.size,
                           per_file=max(1, args.data_n * 2 // 5))
    aug = BatchAugment(hflip_p=0.5, crop_scale=(0.6, 1.0), crop_ratio=(0.75, 4 / 3), size=args.size).to(args.device)
    rows = []

    def timed(iterable, label: str, setup_s: float = 0.0) -> None:
        n = 0
        sync(args.device)
        t = time.perf_counter()
        for lab8 in iterable:
            L_, ab = prepare_batch(lab8.to(args.device, non_blocking=True), augment=True, aug=aug)
            n += lab8.shape[0]
        sync(args.device)
        dt = time.perf_counter() - t
        rows.append({"path": label, "images_per_s": n / dt, "images": n, "setup_s": setup_s})
        print(f"  data {label:<44}: {n / dt:10.0f} img/s", flush=True)

    for workers in args.loader_workers:
        dm = ColorizationDataModule(source="kaggle", root=root, image_size=args.size, batch_size=args.batch,
                                    num_workers=workers, memmap_workers=workers, pin_memory=True,
                                    persistent_workers=False, val_fraction=0.0, test_fraction=0.0, seed=0)
        dm.setup()
        timed(dm.train_dataloader(), f"DataLoader, {workers} workers, pinned")
    t = time.perf_counter()
    images = load_to_device(KaggleLabDataset(root), args.device)
    sync(args.device)
    load_s = time.perf_counter() - t
    for _ in range(2):  # the second epoch shows the steady state
        timed(DeviceBatchLoader(images, args.batch, seed=0), "on_device (data.on_device=true)", load_s)
    rows.pop(-2)
    return rows


def profile_top_kernels(args: argparse.Namespace, name: str, top: int) -> list[dict[str, Any]]:
    """The ``top`` kernels (CUDA) or ops (CPU) by self time over a few mixed-precision (``args.precision``:
    fp16 for ``16-mixed``, else bf16) + channels_last steps of ``name``."""
    from torch.profiler import ProfilerActivity, profile

    module = ColorizationModule(model=dict(MODELS[name]), loss={"name": "l1"}, optimizer=dict(OPTIMIZER),
                                channels_last=True).to(args.device)
    opt = torch.optim.AdamW(module.parameters(), lr=1e-3)
    lab8 = make_batches(1, args.batch, args.size)[0].to(args.device)
    cuda = args.device.type == "cuda"
    dtype = torch.float16 if args.precision == "16-mixed" else torch.bfloat16
    # fp16 needs its gradient scaler, as training has it (a no-op object when disabled, i.e. for bf16).
    scaler = torch.amp.GradScaler(args.device.type, enabled=dtype == torch.float16)

    def step() -> None:
        with torch.autocast(args.device.type, dtype=dtype):
            L_, ab = prepare_batch(lab8)
            loss = module.loss_fn(module(L_).float(), ab)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()

    for _ in range(2):
        step()
    sync(args.device)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with profile(activities=activities) as prof:
        for _ in range(3):
            step()
        sync(args.device)
    events = []
    for e in prof.key_averages():
        t = (getattr(e, "self_device_time_total", None) or getattr(e, "self_cuda_time_total", 0)) if cuda \
            else e.self_cpu_time_total
        if t > 0:
            events.append((t, e.key, e.count))
    total = sum(t for t, _, _ in events) or 1.0
    events.sort(reverse=True)
    return [{"name": k[:90], "ms_per_step": t / 1000 / 3, "share": t / total, "calls": c}
            for t, k, c in events[:top]]
