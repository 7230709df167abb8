"""The mixed precision a GPU trains in: bf16 where the card has bf16 tensor cores, fp16 with a gradient scaler
where it doesn't.

``trainer=gpu`` and ``trainer=ddp`` set ``precision: ${colorization.precision:auto}``; the resolver calls
:func:`choose_precision` in the job's process (where its GPU is visible) and logs the choice once per process.
An explicit ``trainer.precision=...`` replaces the interpolation, so it always wins.

Why capability and not ``torch.cuda.is_bf16_supported()``: the latter also answers ``True`` for cards that only
*emulate* bf16 (a T4 or V100, Kaggle's and Colab's usual GPUs), where bf16 matmuls run several times slower than
fp16 on the tensor cores. Native bf16 arrived with compute capability 8.0 (Ampere: A100, A10, L4, H100, ...).
"""

from __future__ import annotations

import functools
import logging

import torch

from colorization.training.gpu_support import require_supported_gpu

log = logging.getLogger(__name__)

# Lightning precision strings. "16-mixed" on CUDA makes Lightning wrap the optimizer step in a
# torch.amp.GradScaler (fp16's narrow exponent underflows small gradients without loss scaling); bf16 has fp32's
# exponent range and needs none.
BF16 = "bf16-mixed"
FP16 = "16-mixed"
# Native bf16 tensor cores: compute capability (major, minor) >= this.
BF16_MIN_CAPABILITY = (8, 0)


def precision_for_capability(capability: tuple[int, int]) -> str:
    """``"bf16-mixed"`` for a CUDA compute capability ``(major, minor)`` >= (8, 0), else ``"16-mixed"``."""
    return BF16 if tuple(capability) >= BF16_MIN_CAPABILITY else FP16


@functools.cache
def choose_precision(device_index: int = 0) -> str:
    """The mixed precision for CUDA device ``device_index``, logged once per process (cached).

    With no CUDA device visible the answer is ``"bf16-mixed"``, the previous fixed default: the GPU trainer configs
    fail on such a machine anyway (accelerator ``gpu``), and composing them there (tests, a login node) must not
    change what they say.
    """
    # Start-up of every GPU trainer config: a GPU this torch cannot drive fails here, in one sentence with the fix.
    if not require_supported_gpu():
        log.info("precision %s: no CUDA device visible to choose by (trainer.precision=... overrides)", BF16)
        return BF16
    capability = torch.cuda.get_device_capability(device_index)
    choice = precision_for_capability(capability)
    reason = "native bf16" if choice == BF16 else "no native bf16, so fp16 with a gradient scaler"
    log.info("precision %s: %s has compute capability %d.%d, %s (trainer.precision=... overrides)",
             choice, torch.cuda.get_device_name(device_index), *capability, reason)
    return choice


def resolve_precision(mode: str = "auto") -> str:
    """The ``colorization.precision`` resolver: ``auto`` chooses for this process's GPU; any other value (a
    Lightning precision string) is passed through unchanged."""
    return choose_precision() if mode == "auto" else mode
