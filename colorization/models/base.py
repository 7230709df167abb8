"""The base of every colorization network: encoder -> decoder -> head, at any input size.

As segmentation_models_pytorch's ``SegmentationModel``: an architecture only builds its parts and hands them to
:class:`ColorizationNet`, which owns ``forward`` (pad to the encoder stride, run the parts, upsample the head's
output to the output stride, crop back), the encoder / decoder parameter split for discriminative learning rates,
and encoder freezing.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from colorization.errors import ConfigError, require_choice, require_int

from .blocks import pad_to_multiple

PAD_MODES = ("replicate", "reflect", "circular", "constant")


def check_head_args(head_kernel_size: int, pad_mode: str) -> None:
    """A ConfigError naming ``model.head_kernel_size`` or ``model.pad_mode`` when the network cannot use it."""
    require_int("model.head_kernel_size", head_kernel_size, "the head conv's kernel, odd so it keeps the size")
    if head_kernel_size % 2 == 0:
        raise ConfigError(f"model.head_kernel_size={head_kernel_size}: must be odd (1, 3, ...), so the head "
                          "keeps the size of its input")
    require_choice("model.pad_mode", pad_mode, PAD_MODES, "how the input is padded to the encoder stride")


class ColorizationNet(nn.Module):
    """L `[B,1,H,W]` in [-1,1] -> raw head output `[B,out_channels,ceil(H/s),ceil(W/s)]` (s = `output_stride`,
    1 by default: full size), for any H, W >= 1.

    The head has no activation: the loss owns the decoding of its head (2 regression channels, roughly [-1,1],
    or 313 unbounded class logits).

    Args:
        encoder: `[B,1,H,W]` -> list of features, shallow to deep, the deepest at stride `stride`.
        decoder: features -> `[B, decoder.out_channels, H/decoder.output_stride, W/decoder.output_stride]`.
        out_channels: channels of the head (the loss's `out_channels`).
        stride: the encoder's deepest stride; the input is padded to a multiple of it and cropped back after.
        head_kernel_size: kernel of the head conv (odd; 1 = per-pixel linear map).
        pad_mode: how the input is padded ('replicate' works for any size, even 1x1).
        output_stride: the resolution of the output (the loss's `output_stride`): output cell `(i, j)` covers
            input pixels `[i*s, (i+1)*s) x [j*s, (j+1)*s)`, so sizes that are not multiples of s work too.

    Attributes `encoder`, `decoder`, `head` (their names are the state-dict prefixes every checkpoint holds),
    `stride`, `head_stride` (the head runs at H/head_stride, where the decoder ends), `output_stride` (the
    head's output is upsampled bilinearly from head_stride to output_stride; a 1x1 head commutes with bilinear
    upsampling, so a coarser head only saves compute).
    """

    def __init__(
        self,
        encoder: nn.Module,
        decoder: nn.Module,
        out_channels: int,
        stride: int,
        head_kernel_size: int = 1,
        pad_mode: str = "replicate",
        output_stride: int = 1,
    ) -> None:
        super().__init__()
        if out_channels < 1:
            raise ValueError(f"out_channels must be >= 1, got {out_channels}.")
        check_head_args(head_kernel_size, pad_mode)
        head_stride = int(decoder.output_stride)
        if output_stride < 1 or head_stride % output_stride:
            raise ValueError(f"output_stride {output_stride} must divide the head's stride {head_stride}.")
        self.encoder = encoder
        self.decoder = decoder
        self.head = nn.Conv2d(decoder.out_channels, out_channels, head_kernel_size, padding=head_kernel_size // 2)
        self.out_channels = out_channels
        self.stride = int(stride)
        self.head_stride = head_stride
        self.output_stride = int(output_stride)
        self.pad_mode = pad_mode
        self.encoder_frozen = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != 1:
            raise ValueError(f"Expected the L channel as [B,1,H,W], got shape {tuple(x.shape)}.")
        s = self.output_stride
        # The padding before the image is a whole number of output cells, so the grid starts at its top-left.
        x, (top, left, h, w) = pad_to_multiple(x, self.stride, self.pad_mode, align=s)
        y = self.head(self.decoder(self.encoder(x)))
        if self.head_stride > s:
            y = F.interpolate(y, size=(x.shape[-2] // s, x.shape[-1] // s), mode="bilinear", align_corners=False)
        # Rounded up, the last cell hanging over the edge; (n + s - 1) // s as ONNX's truncating division agrees.
        top, left = top // s, left // s
        return y[..., top : top + (h + s - 1) // s, left : left + (w + s - 1) // s]

    @property
    def encoder_weights(self) -> str:
        """Where the encoder's weights came from: ``imagenet:<hub id>``, ``file:<path>``, ``package:<name>`` or
        ``scratch`` (set by :func:`~colorization.models.encoders.create_encoder`)."""
        return str(getattr(self.encoder, "weights_source", "scratch"))

    def encoder_parameters(self) -> Iterator[nn.Parameter]:
        """Parameters of the encoder (the pretrained part): give these a smaller LR or freeze them."""
        return self.encoder.parameters()

    def decoder_parameters(self) -> Iterator[nn.Parameter]:
        """Every parameter that is not the encoder's: decoder and head."""
        encoder_ids = {id(p) for p in self.encoder.parameters()}
        return (p for p in self.parameters() if id(p) not in encoder_ids)

    def train(self, mode: bool = True) -> ColorizationNet:
        # Lightning calls model.train() every epoch; a frozen encoder keeps its BN statistics fixed.
        super().train(mode)
        if self.encoder_frozen:
            self.encoder.eval()
        return self


def set_encoder_frozen(model: ColorizationNet, frozen: bool) -> None:
    """Freeze (or unfreeze) `model.encoder`: requires_grad off and BatchNorm in eval mode while frozen.

    The eval mode sticks across `model.train()` calls until unfrozen, so running statistics stay unchanged.
    """
    model.encoder_frozen = frozen
    for p in model.encoder_parameters():
        p.requires_grad_(not frozen)
    if frozen:
        model.encoder.eval()
    else:
        model.encoder.train(model.training)
