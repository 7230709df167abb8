"""Export a trained colorizer: ``python -m colorization.inference.export --ckpt PATH --format onnx --out model.onnx``.

The exported graph is the network plus its loss's decoding (for the classification loss: softmax with the
annealed-mean temperature and the 313 bin centres), so every runtime gets the same contract as
``ColorizationModule.colorize_normalized``:

    input  "L"  float32 [B,1,H,W], L*/50 - 1 in [-1,1]
    output "ab" float32 [B,2,H,W], a*/128 and b*/128

with B, H and W dynamic, and ab always at the input's full size: a head at a coarser stride (the classification
loss's quarter resolution) is upsampled bilinearly inside the graph (``loss.decode_full``). The models pad H and
W up to their encoder stride inside ``forward``; the example traced for ONNX / TorchScript is deliberately not a
multiple of the stride, so the padding and the head's grid (computed from the input's shape) are recorded in the
graph and any H, W works. ``--format pt2`` writes a ``torch.export``
program with dynamic batch and H, W in multiples of ``--multiple``.

After writing, the export is checked against the PyTorch module on gray real-photo crops and the largest
absolute difference is printed (``--no-verify`` skips this).
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from colorization.inference.checkpoint import TrainedColorizer, load_trained

__all__ = ["ColorizerGraph", "export", "main", "reference_inputs", "verify_onnx"]

FORMATS = ("onnx", "torchscript", "pt2")


class ColorizerGraph(TrainedColorizer):
    """What gets exported, built from anything with ``net`` and ``loss_fn`` (a trained module):
    ``L [B,1,H,W]`` in [-1,1] -> ``ab [B,2,H,W]`` normalised."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__(module.net, module.loss_fn)


def reference_inputs(size: int = 64, count: int = 2, multiple: int = 32) -> torch.Tensor:
    """Gray real-photo crops as ``L [count,1,size,size]`` in [-1,1] (photos shipped in installed wheels)."""
    from colorization.color import lab8_to_normalized, rgb_to_lab8
    from colorization.data.photos import builtin_photos, load_photo

    size = max(multiple, size // multiple * multiple)
    crops = []
    for name in list(builtin_photos())[:count]:
        img = load_photo(name)
        y, x = (img.shape[0] - size) // 2, (img.shape[1] - size) // 2
        crops.append(img[y : y + size, x : x + size].transpose(2, 0, 1))
    lab8 = torch.from_numpy(rgb_to_lab8(np.ascontiguousarray(np.stack(crops))))
    return lab8_to_normalized(lab8)[0]


def export(
    ckpt_path: str | os.PathLike,
    out_path: str | os.PathLike,
    fmt: str = "onnx",
    example_size: int = 72,
    opset: int = 17,
    multiple: int = 32,
) -> Path:
    """Write the checkpoint's model (network + decode) in ``fmt`` to ``out_path``; returns the path.

    Args:
        example_size: the traced example's H = W (ONNX / TorchScript: made a non-multiple of ``multiple``).
        opset: ONNX opset version.
        multiple: the models' encoder stride; for pt2, H and W must be multiples of it.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if fmt != "pt2" and example_size % multiple == 0:
        example_size += 1  # see the module docstring: the traced example must need padding
    graph = ColorizerGraph(load_trained(ckpt_path)).eval()
    example = torch.zeros(1, 1, example_size, example_size)
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad(), warnings.catch_warnings():
        # The tracer warns about the shape checks in the models' forward; the padding is traced correctly.
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        if fmt == "onnx":
            torch.onnx.export(
                graph,
                (example,),
                str(out),
                input_names=["L"],
                output_names=["ab"],
                dynamic_axes={name: {0: "batch", 2: "height", 3: "width"} for name in ("L", "ab")},
                opset_version=opset,
                dynamo=False,  # the TorchScript-based exporter handles dynamic_axes for every registry model
            )
        elif fmt == "torchscript":
            torch.jit.trace(graph, example, check_trace=False).save(str(out))
        else:
            dim = torch.export.Dim
            side = example_size // multiple * multiple or multiple
            shapes = {"L": {0: dim("batch", min=1, max=1024), 2: multiple * dim("hk", min=1, max=512),
                            3: multiple * dim("wk", min=1, max=512)}}
            program = torch.export.export(graph, (torch.zeros(2, 1, side, side),), dynamic_shapes=shapes)
            torch.export.save(program, str(out))
    return out


def verify_onnx(onnx_path: str | os.PathLike, module: nn.Module, inputs: torch.Tensor) -> float:
    """Max absolute difference between onnxruntime's ``ab`` and the module's on ``inputs`` ``[B,1,H,W]``."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    (got,) = session.run(["ab"], {"L": inputs.numpy().astype(np.float32)})
    with torch.no_grad():
        want = ColorizerGraph(module).eval()(inputs).numpy()
    return float(np.abs(got - want).max())


def _verify(out: Path, fmt: str, ckpt: str, size: int) -> float:
    module = load_trained(ckpt)
    inputs = reference_inputs(size)
    if fmt == "onnx":
        return verify_onnx(out, module, inputs)
    loaded = torch.jit.load(str(out)) if fmt == "torchscript" else torch.export.load(str(out)).module()
    with torch.no_grad():
        return float((loaded(inputs) - ColorizerGraph(module).eval()(inputs)).abs().max())


def main(argv: Sequence[str] | None = None, prog: str = "colorization export") -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    p = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    p.add_argument("--ckpt", required=True, help="checkpoint written by train.py")
    p.add_argument("--format", choices=FORMATS, default="onnx")
    p.add_argument("--out", required=True, help="output file (model.onnx, model.pt, model.pt2)")
    p.add_argument("--example-size", type=int, default=72, help="H = W of the traced example (default 72)")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    p.add_argument("--multiple", type=int, default=32, help="the models' encoder stride (default 32)")
    p.add_argument("--verify-size", type=int, default=128, help="crop size of the parity check (default 128)")
    p.add_argument("--no-verify", action="store_true", help="skip the parity check against PyTorch")
    args = p.parse_args(argv)
    try:
        out = export(args.ckpt, args.out, args.format, args.example_size, args.opset, args.multiple)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {out} ({args.format}: L [B,1,H,W] in [-1,1] -> ab [B,2,H,W] = ab*/128)")
    if not args.no_verify:
        err = _verify(out, args.format, args.ckpt, args.verify_size)
        print(f"max |{args.format} - torch| on real photo crops: {err:.2e}")
    return 0

