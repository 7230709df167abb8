"""Training and inference speed on the CPU: Lightning's overhead over a bare loop, images/s per model, and what a
``ce`` training step costs next to an ``l1`` one.

    python benchmarks/bench_train.py --model vanilla --size 96 --batch 8     # overhead only, prints JSON
    python benchmarks/bench_train.py --model vanilla --size 224 --loss-ratio # ce / l1 step time, prints JSON

Framework overhead is measured end to end: the time between consecutive ``on_train_batch_end`` calls under the
real ``Trainer`` (fetch, transfer, ``on_after_batch_transfer``, hooks, ``training_step`` with its logging,
backward, optimizer) against the time between consecutive iterations of a bare PyTorch loop doing the same
work on the same in-memory uint8 batches. Timing only ``on_train_batch_start -> on_train_batch_end`` would
hide the fetch and the hook dispatch, which are where a framework's overhead lives. Rounds alternate bare and
Trainer so that load on a shared machine drifts over both alike; the ratio is the median of the per-round
ratios of median step times.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import time
from typing import Any

from colorization import prefer_passive_omp_waits

prefer_passive_omp_waits()  # OMP_WAIT_POLICY, before torch loads OpenMP

# isort: split
import lightning as L  # noqa: E402
import torch  # noqa: E402

from colorization.data.augment import prepare_batch  # noqa: E402
from colorization.training.module import ColorizationModule  # noqa: E402

OPTIMIZER = {"_target_": "torch.optim.AdamW", "_partial_": True, "lr": 1e-3}
# The three registry models as conf/model/*.yaml builds them (width 32 / 16 pyramids).
MODELS: dict[str, dict[str, Any]] = {
    "vanilla": {"name": "vanilla", "widths": [32, 64, 128, 256]},
    "resnet34": {"name": "resnet", "encoder": "resnet34", "decoder_channels": [256, 128, 64, 32, 16]},
    "unet-resnet34": {"name": "unet", "encoder": "resnet34", "decoder_channels": [256, 128, 64, 32, 16]},
}


def make_module(model: dict[str, Any], seed: int = 0, loss: str = "l1") -> ColorizationModule:
    """The project's LightningModule with ``loss`` (default L1; its own head stride) and AdamW, seeded."""
    torch.manual_seed(seed)
    return ColorizationModule(model=dict(model), loss={"name": loss}, optimizer=dict(OPTIMIZER))


def make_batches(n: int, batch: int, size: int, seed: int = 0) -> list[torch.Tensor]:
    """``n`` uint8 LAB batches ``[batch, 3, size, size]`` held in memory (smooth, so losses stay sane)."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.randint(0, 256, (n * batch, 3, max(2, size // 8), max(2, size // 8)), generator=g)
    smooth = torch.nn.functional.interpolate(coarse.float(), size=(size, size), mode="bilinear")
    return list(smooth.round().to(torch.uint8).split(batch))


def bare_loop_intervals(module: ColorizationModule, batches: list[torch.Tensor]) -> list[float]:
    """Seconds between consecutive iterations of a plain PyTorch loop over ``batches``."""
    net, loss_fn = module.net, module.loss_fn
    net.train()
    opt = torch.optim.AdamW(net.parameters(), lr=OPTIMIZER["lr"])
    stamps = [time.perf_counter()]
    for lab8 in batches:
        L_, ab = prepare_batch(lab8)
        loss = loss_fn(net(L_).float(), ab)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        stamps.append(time.perf_counter())
    return [b - a for a, b in zip(stamps, stamps[1:], strict=False)]


class InMemoryBatches:
    """An iterable of ready batches (a bare list would be read by Lightning as a list of dataloaders)."""

    def __init__(self, batches: list[torch.Tensor]) -> None:
        self.batches = batches

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self):
        return iter(self.batches)


class InMemoryData(L.LightningDataModule):
    """Ready uint8 LAB batches as a datamodule: its ``on_after_batch_transfer`` makes ``(L, ab)`` floats on the
    device, as :class:`~colorization.data.ColorizationDataModule` does without augmentation (the module only
    ever sees floats)."""

    def __init__(self, batches: list[torch.Tensor]) -> None:
        super().__init__()
        self.batches = batches

    def train_dataloader(self) -> InMemoryBatches:
        return InMemoryBatches(self.batches)

    def on_after_batch_transfer(self, batch: torch.Tensor, dataloader_idx: int) -> tuple[torch.Tensor, torch.Tensor]:
        return prepare_batch(batch)


class _StepClock(L.Callback):
    def __init__(self) -> None:
        self.stamps: list[float] = []

    def on_train_batch_end(self, *args: Any) -> None:
        self.stamps.append(time.perf_counter())


def trainer_intervals(module: ColorizationModule, batches: list[torch.Tensor]) -> list[float]:
    """Seconds between consecutive ``on_train_batch_end`` under the real Trainer (no bars, loggers or checkpoints).

    One interval fewer than batches: the first step has no predecessor, so startup never counts.
    """
    clock = _StepClock()
    trainer = L.Trainer(accelerator="cpu", devices=1, max_epochs=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                        limit_val_batches=0, callbacks=[clock])
    trainer.fit(module, datamodule=InMemoryData(batches))
    return [b - a for a, b in zip(clock.stamps, clock.stamps[1:], strict=False)]


def framework_overhead(model: dict[str, Any], size: int, batch: int, steps: int, rounds: int,
                       warmup: int = 2) -> dict[str, Any]:
    """Trainer step time over bare-loop step time, from ``rounds`` back-to-back pairs of ``steps`` steps each.

    ``ratio`` is the median over rounds of (Trainer median / bare median) of the same round: pairing neighbours
    cancels the slow drift of a shared machine's load, which a ratio of global medians would not.
    """
    batches = make_batches(steps + warmup + 1, batch, size)
    bare: list[float] = []
    framed: list[float] = []
    per_round: list[float] = []
    round_medians: list[tuple[float, float]] = []
    for r in range(rounds):
        # Alternate which goes first, so neither always runs right after a Trainer's start-up.
        order = (bare_loop_intervals, trainer_intervals) if r % 2 == 0 else (trainer_intervals, bare_loop_intervals)
        got = {}
        for fn in order:
            # Earlier rounds' Trainers live on in reference cycles until collected, and every object alive makes
            # Python's garbage collections during a step slower: without this the Trainer got ~3% slower per round.
            gc.collect()
            got[fn] = fn(make_module(model), batches)[warmup:]
        bare += got[bare_loop_intervals]
        framed += got[trainer_intervals]
        medians = (statistics.median(got[bare_loop_intervals]), statistics.median(got[trainer_intervals]))
        round_medians.append(medians)
        per_round.append(medians[1] / medians[0])
    b, f = statistics.median(bare), statistics.median(framed)
    return {"model": model["name"], "size": size, "batch": batch, "steps": len(bare), "rounds": rounds,
            "bare_step_s": b, "trainer_step_s": f, "ratio": statistics.median(per_round), "round_ratios": per_round,
            "round_medians_s": round_medians,
            "ratio_of_medians": f / b, "bare_iqr_s": _iqr(bare), "trainer_iqr_s": _iqr(framed)}


def loss_step_ratio(model: dict[str, Any], size: int, batch: int, steps: int, rounds: int, loss: str = "ce",
                    base: str = "l1", warmup: int = 2) -> dict[str, Any]:
    """Bare-loop training step time with ``loss`` over the same with ``base``, from ``rounds`` back-to-back pairs.

    Each side gets a fresh module (so its head is the loss's: 313 logits at a quarter resolution for ``ce``,
    2 channels at full size for ``l1``) and the same uint8 batches; the classification loss's rebalancing uses
    the prior of those batches, as training would. Rounds alternate which side goes first; ``ratio`` is the
    median over rounds of (loss median / base median), so the drift of a shared machine's load cancels.
    """
    from colorization.losses.rebalance import estimate_ab_prior

    batches = make_batches(steps + warmup, batch, size)  # the bare loop times every batch, the first included
    times: dict[str, list[float]] = {loss: [], base: []}
    per_round: list[float] = []
    for r in range(rounds):
        medians = {}
        for name in ((loss, base) if r % 2 == 0 else (base, loss)):
            gc.collect()
            module = make_module(model, loss=name)
            if module.loss_fn.needs_prior:
                module.loss_fn.set_prior(estimate_ab_prior(batches))
            got = bare_loop_intervals(module, batches)[warmup:]
            times[name] += got
            medians[name] = statistics.median(got)
        per_round.append(medians[loss] / medians[base])
    return {"model": model["name"], "loss": loss, "base": base, "size": size, "batch": batch, "rounds": rounds,
            "steps": len(times[base]), f"{loss}_step_s": statistics.median(times[loss]),
            f"{base}_step_s": statistics.median(times[base]), "ratio": statistics.median(per_round),
            "round_ratios": per_round}


def _iqr(xs: list[float]) -> float:
    q = statistics.quantiles(xs, n=4) if len(xs) > 1 else [xs[0]] * 3
    return q[2] - q[0]


def train_images_per_s(model: dict[str, Any], size: int, batch: int, steps: int) -> float:
    """Training images/s of the bare loop (one warm-up step excluded): what the data path must feed."""
    times = bare_loop_intervals(make_module(model), make_batches(steps + 1, batch, size))[1:]
    return batch / statistics.median(times)


def predict_images_per_s(model: dict[str, Any], size: int, batch: int, reps: int) -> float:
    """Images/s of ``prepare_batch`` + ``predict_step`` (uint8 LAB in, RGB uint8 out) in eval mode without
    gradients."""
    module = make_module(model).eval()
    lab8 = make_batches(1, batch, size)[0]
    times = []
    with torch.inference_mode():
        module.predict_step(prepare_batch(lab8), 0)  # warm-up
        for _ in range(reps):
            t = time.perf_counter()
            module.predict_step(prepare_batch(lab8), 0)
            times.append(time.perf_counter() - t)
    return batch / statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="vanilla", choices=sorted(MODELS))
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--loss-ratio", action="store_true", help="ce / l1 training step time instead of overhead")
    args = parser.parse_args()
    if args.loss_ratio:
        print(json.dumps(loss_step_ratio(MODELS[args.model], args.size, args.batch, args.steps, args.rounds)))
        return
    print(json.dumps(framework_overhead(MODELS[args.model], args.size, args.batch, args.steps, args.rounds)))


if __name__ == "__main__":
    main()
