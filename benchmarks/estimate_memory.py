"""Peak GPU memory of a training job, estimated on the CPU: will ``experiment=kaggle_study`` fit a 16 GB T4?

    python benchmarks/estimate_memory.py                                   # kaggle_study's models at batch 128
    python benchmarks/estimate_memory.py --batch 64 --models unet --losses ce

For each model x loss (composed from ``conf/`` as ``train.py`` would, ImageNet weights off: same shapes), one
training forward at ``--probe`` images of ``--size`` px under mixed precision (CPU autocast to bf16: the same
2 bytes per activation as fp16 on a GPU) records every tensor autograd keeps for the backward pass (unique
storages, so views count once). The estimate at ``--batch`` is::

    uint8 set on the device (data.on_device)  + 16 B x parameters (fp32 weights, gradients, Adam's two moments)
    + batch x saved activations per image    + --overhead GB (CUDA context, cuDNN workspace, allocator slack)

The backward's transient gradients stay below the activations they replace. Prints a Markdown table and JSON.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import colorization  # noqa: F401 - sets OMP_WAIT_POLICY before torch loads OpenMP

# isort: split
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

import colorization.config  # noqa: F401 - registers the resolvers the configs use

CONF = Path(__file__).resolve().parents[1] / "conf"
GB = 1e9
KAGGLE_SET_BYTES = 25_000 * 3 * 224 * 224  # the Kaggle set as uint8 LAB: 3.76 GB


def saved_bytes_per_image(module: torch.nn.Module, size: int, probe: int) -> float:
    """Bytes autograd saves for the backward pass per training image (mixed precision, unique storages)."""
    storages: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return t

    L_ = torch.rand(probe, 1, size, size) * 2 - 1
    ab = torch.rand(probe, 2, size, size) * 2 - 1
    module.train()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), torch.autocast("cpu", dtype=torch.bfloat16):
        loss, _ = module._step((L_, ab))
    del loss
    return sum(storages.values()) / probe


def estimate(model: str, loss: str, batch: int, size: int, probe: int, overhead_gb: float,
             on_device: bool) -> dict:
    with initialize_config_dir(str(CONF), version_base="1.3"):
        scratch = [] if model == "vanilla" else ["model.pretrained=false"]  # vanilla has no pretrained weights
        cfg = compose("train", overrides=[f"model={model}", f"loss={loss}", *scratch, "data=sample"])
    module = instantiate(cfg.module)
    params = sum(p.numel() for p in module.parameters())
    per_image = saved_bytes_per_image(module, size, probe)
    data = KAGGLE_SET_BYTES if on_device else 0
    total = data + 16 * params + batch * per_image + overhead_gb * GB
    return {"model": model, "loss": loss, "batch": batch, "params_m": round(params / 1e6, 2),
            "activations_mb_per_image": round(per_image / 1e6, 1), "data_gb": round(data / GB, 2),
            "estimate_gb": round(total / GB, 2)}


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["vanilla", "resnet", "unet"])
    parser.add_argument("--losses", nargs="+", default=["l1", "ce"])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--probe", type=int, default=2, help="images in the measured forward pass")
    parser.add_argument("--overhead", type=float, default=1.5, help="GB for context, workspace and slack")
    parser.add_argument("--no-on-device", dest="on_device", action="store_false",
                        help="the set stays on the host (data.on_device=false)")
    args = parser.parse_args(argv)
    rows = [estimate(m, loss, args.batch, args.size, args.probe, args.overhead, args.on_device)
            for m in args.models for loss in args.losses]
    print(f"| model | loss | params M | activations MB / image | set GB | batch {args.batch}: GB |")
    print("|---|---|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['model']} | {r['loss']} | {r['params_m']} | {r['activations_mb_per_image']} | {r['data_gb']} | "
              f"{r['estimate_gb']} |")
    print(json.dumps(rows))
    return rows


if __name__ == "__main__":
    main()
