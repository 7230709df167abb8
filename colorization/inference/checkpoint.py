"""The one checkpoint loader: a ``train.py`` checkpoint -> the network + its loss's decoding, without Lightning.

Eval (both paths), ``colorize``, export, the Python API and the study report all load checkpoints through
:func:`load_trained`. Importing Lightning or Hydra to get here would cost seconds per process (6.6 s on the
2-core machine), so this module needs neither: a checkpoint holds plain hyper-parameters (``model``, ``loss``)
and a state dict, of which only the ``net.`` and ``loss_fn.`` entries matter here (metrics, optimizer state,
a GAN's ``discriminator.`` weights are training business).

The file itself is read (safely) by :mod:`colorization.io.checkpoints`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from colorization.io.checkpoints import network_parts, read_checkpoint
from colorization.losses import create_loss
from colorization.models.config import model_from_config

__all__ = ["TrainedColorizer", "load_trained", "offline_model_hparams", "training_image_size"]


class TrainedColorizer(nn.Module):
    """``L [B,1,H,W]`` in [-1,1] -> ``ab [B,2,H,W]`` normalised (``ab*/128``, in [-1,1]): network + decode,
    at L's full size whatever the head's stride.

    Attributes:
        net: the registry network, ``L [B,1,H,W]`` -> the loss's head ``[B, loss_fn.out_channels, h, w]``
            (``h = ceil(H / loss_fn.output_stride)``).
        loss_fn: the registry loss, for its ``decode_full`` (and the state decoding needs, e.g. bin centres).
        hparams: ``{"model": ..., "loss": ...}`` as the network and loss were built (weight downloads
            off): enough to build the training module around this network again.
    """

    def __init__(self, net: nn.Module, loss_fn: nn.Module, hparams: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        self.net = net
        self.loss_fn = loss_fn
        self.hparams = dict(hparams or {})

    def forward(self, L: torch.Tensor) -> torch.Tensor:  # noqa: N803 - L is the LAB channel's name
        return self.loss_fn.decode_full(self.net(L).float(), L.shape[-2:])

    @torch.no_grad()
    def colorize_normalized(self, L: torch.Tensor) -> torch.Tensor:  # noqa: N803
        """The same as calling the module, without autograd (the name the training module shares)."""
        return self(L)


def offline_model_hparams(model: Mapping[str, Any]) -> dict[str, Any]:
    """A model config for loading trained weights: no weight download or file (the checkpoint holds every
    weight), whatever the run asked for at training time."""
    model = dict(model)
    if "pretrained" in model:
        model["pretrained"] = False
    if "weights" in model:
        model["weights"] = None
    return model


def _load_part(part: nn.Module, state: Mapping[str, torch.Tensor], prefix: str, path: Path) -> None:
    own = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    try:
        part.load_state_dict(own)
    except RuntimeError as e:
        first = str(e).splitlines()[0].rstrip(":")
        raise ValueError(f"{path}: its {prefix.rstrip('.')} weights do not fit the network its hyper-parameters "
                         f"describe ({first})") from e


def load_trained(ckpt_path: str | os.PathLike, map_location: str | torch.device = "cpu") -> TrainedColorizer:
    """Network and loss from a checkpoint's hyper-parameters, weights from its state dict; in eval mode."""
    ckpt = read_checkpoint(ckpt_path)
    hparams, state = network_parts(ckpt)
    hparams["model"] = offline_model_hparams(hparams["model"])
    loss_kw = dict(hparams["loss"])
    loss_fn = create_loss(loss_kw.pop("name"), **loss_kw)
    net = model_from_config(hparams["model"], loss_fn.out_channels, loss_fn.output_stride)
    _load_part(net, state, "net.", Path(ckpt_path))
    _load_part(loss_fn, state, "loss_fn.", Path(ckpt_path))
    return TrainedColorizer(net, loss_fn, hparams).to(map_location).eval()


def training_image_size(ckpt_path: str | os.PathLike) -> int | None:
    """The ``data.image_size`` a checkpoint was trained at, from its run's ``.hydra/config.yaml`` (the run dir is
    ``<run>/checkpoints/x.ckpt``'s grandparent), or None when that file or key is not there."""
    config = Path(ckpt_path).resolve().parent.parent / ".hydra" / "config.yaml"
    if not config.is_file():
        return None
    from omegaconf import OmegaConf  # light (no Hydra); only needed here

    size = OmegaConf.select(OmegaConf.load(config), "data.image_size", default=None)
    return int(size) if isinstance(size, int) else None
