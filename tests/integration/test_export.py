"""ONNX (and TorchScript) export: onnxruntime matches PyTorch on real photos at any batch and size."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from colorization.color import lab8_to_normalized, rgb_to_lab8
from colorization.inference.checkpoint import load_trained
from colorization.inference.export import ColorizerGraph, export, main, verify_onnx
from tests.support.checkpoints import save_checkpoint, tiny_module

ONNX_TOLERANCE = 1e-4  # measured: ~2e-8 (l1) and ~2e-7 (ce, softmax over 313 bins)


@pytest.fixture(scope="module", params=["l1", "ce"])
def ckpt(request, tmp_path_factory):
    module = tiny_module(request.param)
    with torch.no_grad():  # a spread of outputs, so the comparison is not between two near-zero maps
        module.net.head.weight.mul_(20.0)
    return save_checkpoint(module, tmp_path_factory.mktemp(f"export_{request.param}") / "model.ckpt"), module.eval()


def _gray_crops(crops: np.ndarray, h: int, w: int) -> torch.Tensor:
    """Real photo crops ``[N,h,w,3]`` uint8 -> ``L [N,1,h,w]`` in [-1,1]."""
    lab8 = torch.from_numpy(rgb_to_lab8(np.ascontiguousarray(crops[:, :h, :w].transpose(0, 3, 1, 2))))
    return lab8_to_normalized(lab8)[0]


def test_onnx_matches_torch_at_any_batch_and_size(ckpt, real_crops, tmp_path):
    ckpt, _ = ckpt
    out = export(ckpt, tmp_path / "model.onnx", "onnx")
    module = load_trained(ckpt)
    for n, h, w in [(4, 64, 64), (1, 37, 50), (3, 33, 64)]:  # odd sizes need the traced padding
        inputs = _gray_crops(real_crops[:n], h, w)
        with torch.no_grad():
            ab = ColorizerGraph(module).eval()(inputs)
        assert ab.shape == (n, 2, h, w) and ab.std() > 0.02
        err = verify_onnx(out, module, inputs)
        assert err < ONNX_TOLERANCE, f"max |onnx - torch| = {err:.2e} at {(n, h, w)}"


def test_exported_graph_is_network_plus_decode(ckpt, real_crops):
    """The graph exported from the loaded checkpoint colours as the training module that wrote it."""
    path, module = ckpt
    inputs = _gray_crops(real_crops[:2], 64, 64)
    torch.testing.assert_close(ColorizerGraph(load_trained(path)).eval()(inputs), module.colorize_normalized(inputs))


def test_cli_writes_and_verifies(ckpt, tmp_path, capsys):
    ckpt, _ = ckpt
    out = tmp_path / "cli.pt2"
    args = ["--ckpt", str(ckpt), "--format", "pt2", "--out", str(out), "--verify-size", "64"]
    assert main(args) == 0
    text = capsys.readouterr().out
    err = float(text.rsplit(":", 1)[1])
    assert out.is_file() and err < ONNX_TOLERANCE
    assert main(["--ckpt", str(tmp_path / "missing.ckpt"), "--out", str(tmp_path / "x.onnx")]) == 2
