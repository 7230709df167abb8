"""Training augmentation and batch preparation on the device.

The datamodule calls :func:`prepare_batch` from ``on_after_batch_transfer``: DataLoader workers only slice
uint8 arrays; the augmentation (kornia) and the conversion to network floats
(:mod:`colorization.color.encoding`) run batched on the accelerator.
"""

from __future__ import annotations

from collections.abc import Sequence

import kornia.augmentation as K
import torch
import torch.nn.functional as F
from torch import nn

from colorization.color.buffers import CPU_BUFFERS, FloatBufferPool
from colorization.color.encoding import lab8_to_float, lab8_to_normalized, normalize_lab8_


def cropping_mode(device: torch.device) -> str:
    """How kornia's random resized crop cuts a batch on ``device``: ``"resample"`` on an accelerator, one affine
    warp (``grid_sample``) for the whole batch; ``"slice"`` on the CPU, a crop and a resize per image.

    Both draw the same boxes from the same generator and map output pixel ``i`` to ``x0 + i (x1 - x0) / (S - 1)``
    (corners aligned), so they make the same pictures. They differ in cost: per image, a GPU pays two kernel
    launches and the Python between them (a few ms a step at batch 128, with the GPU idle), while the CPU resizes
    a small image faster than ``grid_sample`` gathers it (BENCHMARKS.md, "Random resized crop"). A crop is never
    larger than the output, so either only enlarges and needs no antialiasing.
    """
    return "slice" if device.type == "cpu" else "resample"


class BatchAugment(nn.Module):
    """Random horizontal flip and random resized crop of a float LAB batch ``[B, 3, H, W]``.

    L and ab are transformed together (one 3-channel tensor), so colours stay on their pixels. Output is
    ``[B, 3, size, size]`` (``size=None``: the input's size). No parameters or buffers: it works on whatever
    device the batch lives on.

    Args:
        hflip_p: probability of a horizontal flip per image.
        crop_scale: range of the crop's area as a fraction of the image.
        crop_ratio: range of the crop's aspect ratio.
        size: output side; ``None`` keeps the input size.
        crop_p: probability of cropping an image at all (otherwise it is only resized, if needed).
    """

    def __init__(
        self,
        hflip_p: float = 0.5,
        crop_scale: Sequence[float] = (0.5, 1.0),
        crop_ratio: Sequence[float] = (3.0 / 4.0, 4.0 / 3.0),
        size: int | None = None,
        crop_p: float = 1.0,
    ) -> None:
        super().__init__()
        self.hflip_p = float(hflip_p)
        self.crop_scale = (float(crop_scale[0]), float(crop_scale[1]))
        self.crop_ratio = (float(crop_ratio[0]), float(crop_ratio[1]))
        self.size = size
        self.crop_p = float(crop_p)
        self.flip = K.RandomHorizontalFlip(p=self.hflip_p)
        self._crops: dict[tuple[tuple[int, int], str], nn.Module] = {}  # one kornia crop per size and mode

    def _crop(self, hw: tuple[int, int], device: torch.device) -> nn.Module:
        mode = cropping_mode(device)
        if (hw, mode) not in self._crops:
            self._crops[hw, mode] = K.RandomResizedCrop(hw, scale=self.crop_scale, ratio=self.crop_ratio,
                                                        p=self.crop_p, cropping_mode=mode)
        return self._crops[hw, mode]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Float ``[B, 3, H, W]`` (any range) -> float ``[B, 3, size, size]``, same range."""
        out_hw = (self.size, self.size) if self.size else (x.shape[-2], x.shape[-1])
        if self.crop_p > 0:
            x = self._crop(out_hw, x.device)(x)
        x = _resize(x, out_hw)  # images the crop skipped (crop_p < 1) still need the output size
        return self.flip(x) if self.hflip_p > 0 else x

    def extra_repr(self) -> str:
        return (f"hflip_p={self.hflip_p}, crop_scale={self.crop_scale}, crop_ratio={self.crop_ratio}, "
                f"size={self.size}, crop_p={self.crop_p}")


def _resize(x: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    if tuple(x.shape[-2:]) == hw:
        return x
    return F.interpolate(x, size=hw, mode="bilinear", align_corners=False, antialias=True)


def prepare_batch(
    lab8: torch.Tensor,
    augment: bool = False,
    aug: nn.Module | None = None,
    size: int | None = None,
    pool: FloatBufferPool | None = CPU_BUFFERS,
) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 LAB batch ``[B, 3, H, W]`` (on the device) -> ``(L [B,1,S,S] in [-1,1], ab [B,2,S,S] = ab*/128)``.

    Args:
        lab8: the batch as the DataLoader yields it, already moved to the device.
        augment: apply ``aug`` (pass ``self.training``); val / test / predict stay deterministic.
        aug: a :class:`BatchAugment` (from ``datamodule.make_batch_augment()``) or ``None`` for no augmentation.
        size: output side ``S`` when not augmenting; ``None`` keeps ``H, W``. With augmentation the size is
            ``aug``'s.
        pool: reusable CPU buffers (see :class:`FloatBufferPool`); ``None`` allocates fresh tensors.

    ``L`` and ``ab`` are channel views of one float buffer, converted and normalised in place (one allocation,
    no temporaries).
    """
    if lab8.dtype != torch.uint8 or lab8.ndim != 4 or lab8.shape[1] != 3:
        raise ValueError(f"expected a uint8 LAB batch [B, 3, H, W], got {lab8.dtype} {tuple(lab8.shape)}")
    if augment and aug is not None:
        x = aug(lab8_to_float(lab8, pool))  # kornia returns a new tensor: ours to normalise in place
    elif size is not None and tuple(lab8.shape[-2:]) != (size, size):
        x = _resize(lab8_to_float(lab8, pool), (size, size))
    else:
        return lab8_to_normalized(lab8, pool)
    return normalize_lab8_(x.float())  # x came from our own float copy: ours to normalise in place

