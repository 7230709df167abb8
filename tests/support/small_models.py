"""Small versions of each registry model for unit tests: the same code paths at a fraction of the compute."""

from __future__ import annotations

import pytest
import torch

from colorization.models import create_model

SMALL = {
    "vanilla": dict(widths=(8, 16, 32)),
    "resnet": dict(encoder="resnet10t", decoder_channels=(32, 16, 16, 8, 8)),
    "unet": dict(encoder="resnet10t", decoder_channels=(32, 16, 16, 8, 8)),
}
TINY_ENCODER = dict(encoder="resnet10t", decoder_channels=(16, 8))


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """These tensors are tiny: one intra-op thread is as fast, and on a shared 2-core machine two spinning
    OpenMP threads run 10x slower when another process holds a core. (Autouse in every module importing it.)"""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def small(name: str, out_channels: int = 2, **kw) -> torch.nn.Module:
    """``create_model(name)`` at the sizes above (``kw`` overrides), seeded."""
    torch.manual_seed(0)
    return create_model(name, out_channels, **{**SMALL[name], **kw})
