"""The one checkpoint loader: a ``train.py`` checkpoint -> the network + its loss's decoding, without Lightning.

Eval (both paths), ``colorize``, export, the Python API and the study report all load checkpoints through
:func:`load_trained`. Importing Lightning or Hydra to get here would cost seconds per process (6.6 s on the
2-core machine), so this module needs neither: a checkpoint holds plain hyper-parameters (``model``, ``loss``)
and a state dict, of which only the ``net.`` and ``loss_fn.`` entries matter here (metrics, optimizer state,
a GAN's ``discriminator.`` weights are training business).

Checkpoints of every earlier version keep loading; :func:`translate_legacy_hparams` is the one place that
knows how they differ.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from colorization.losses import create_loss
from colorization.models.config import LEGACY_RUN_OPTIONS, model_from_config

__all__ = ["TrainedColorizer", "load_trained", "offline_model_hparams", "read_checkpoint",
           "training_image_size", "translate_legacy_hparams"]

# Old GAN runs registered their loss as "gan", owning the discriminator under ``loss_fn.discriminator.``.
_LEGACY_GAN_LOSS = "gan"
_LEGACY_DISCRIMINATOR_PREFIX = "loss_fn.discriminator."
# Their head regressed ab and was decoded by a clamp to [-1, 1]: exactly the l1 loss's head and decode.
_LEGACY_GAN_HEAD_LOSS = {"name": "l1"}
# Before the loss config named its head's stride, every head was full size.
_LEGACY_OUTPUT_STRIDE = 1


class TrainedColorizer(nn.Module):
    """``L [B,1,H,W]`` in [-1,1] -> ``ab [B,2,H,W]`` normalised (``ab*/128``, in [-1,1]): network + decode,
    at L's full size whatever the head's stride.

    Attributes:
        net: the registry network, ``L [B,1,H,W]`` -> the loss's head ``[B, loss_fn.out_channels, h, w]``
            (``h = ceil(H / loss_fn.output_stride)``).
        loss_fn: the registry loss, for its ``decode_full`` (and the state decoding needs, e.g. bin centres).
        hparams: ``{"model": ..., "loss": ...}`` as the network and loss were built (legacy keys translated,
            weight downloads off): enough to build the training module around this network again.
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


def read_checkpoint(ckpt_path: str | os.PathLike) -> dict[str, Any]:
    """A ``train.py`` checkpoint as a dict, memory-mapped; one clear sentence for a wrong path or file."""
    path = Path(ckpt_path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist; pass the path train.py printed")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False, mmap=True)
    except Exception as e:  # noqa: BLE001 - any unpickling failure means "not a checkpoint" to the user
        raise ValueError(f"{path} is not a PyTorch checkpoint ({e.__class__.__name__}: {e})") from e
    hp = ckpt.get("hyper_parameters") if isinstance(ckpt, dict) else None
    if not isinstance(ckpt.get("state_dict") if isinstance(ckpt, dict) else None, Mapping) or not (
        isinstance(hp, Mapping) and isinstance(hp.get("model"), Mapping) and isinstance(hp.get("loss"), Mapping)
    ):
        raise ValueError(f"{path} is not a train.py checkpoint (it lacks a state_dict or model/loss hyper-parameters)")
    return ckpt


def offline_model_hparams(model: Mapping[str, Any]) -> dict[str, Any]:
    """A model config for loading trained weights: no weight download or file (the checkpoint holds every
    weight), whatever the run asked for at training time."""
    model = dict(model)
    if "pretrained" in model:
        model["pretrained"] = False
    if "weights" in model:
        model["weights"] = None
    return model


def translate_legacy_hparams(
    hparams: Mapping[str, Any], state_dict: Mapping[str, torch.Tensor]
) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Any checkpoint's ``(hyper_parameters, state_dict)`` -> today's ``({"model", "loss"}, net/loss state)``.

    What older checkpoints hold differently:

    * the model config carries how-to-run options (``compile``, ``compile_backend``, ``compile_mode``,
      ``channels_last``): dropped, they do not change the network;
    * GAN runs named their loss ``gan`` (with ``lambda_l1``, ``discriminator``, ``d_lr``, ... keys) and stored the
      discriminator under ``loss_fn.discriminator.``: the generator's head is a plain ab regression decoded by a
      clamp to [-1, 1], which is the ``l1`` loss's, and the discriminator is not needed to colour;
    * the loss config has no ``output_stride``: every head was full size then (``output_stride = 1``), even the
      classification loss's, whose default is now a quarter.

    The returned state holds only the ``net.`` and ``loss_fn.`` entries (prefixes kept).
    """
    model = {k: v for k, v in hparams["model"].items() if k not in LEGACY_RUN_OPTIONS}
    loss = dict(hparams["loss"])
    state = {k: v for k, v in state_dict.items() if k.startswith(("net.", "loss_fn."))}
    if loss.get("name") == _LEGACY_GAN_LOSS:
        loss = dict(_LEGACY_GAN_HEAD_LOSS)
        state = {k: v for k, v in state.items() if not k.startswith(_LEGACY_DISCRIMINATOR_PREFIX)}
    loss.setdefault("output_stride", _LEGACY_OUTPUT_STRIDE)
    return {"model": model, "loss": loss}, state


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
    hparams, state = translate_legacy_hparams(ckpt["hyper_parameters"], ckpt["state_dict"])
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
