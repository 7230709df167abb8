"""The inference half of a checkpoint: network + the loss's decoding, built without Lightning or Hydra.

``colorize`` and ``export`` only need ``L -> ab``; importing Lightning to get there costs seconds per process
(6.6 s on the 2-core machine), so they load checkpoints through :func:`load_trained` instead.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from colorization.losses import create_loss
from colorization.models import create_model

# Keys of a model config that say how to run the network, not what it is (the module handles them).
RUN_OPTIONS = ("compile", "compile_backend", "compile_mode", "channels_last", "width")


def split_model_config(model: dict[str, Any]) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """``{"name": ..., **kw}`` -> ``(registry name, run options, model kwargs)``.

    ``width`` is a config-level knob already expanded into the widths it sets, so it is dropped here.
    """
    kwargs = dict(model)
    name = kwargs.pop("name")
    options = {k: kwargs.pop(k) for k in RUN_OPTIONS if k in kwargs}
    return name, options, kwargs


def offline_model_hparams(model: dict[str, Any]) -> dict[str, Any]:
    """Model hyper-parameters for inference: no weight download or file (the checkpoint holds every weight),
    and no ``torch.compile`` (its start-up cost outweighs a few photos)."""
    model = dict(model)
    if "pretrained" in model:
        model["pretrained"] = False
    if "weights" in model:
        model["weights"] = None
    if "compile" in model:
        model["compile"] = False
    return model


class TrainedColorizer(nn.Module):
    """``L [B,1,H,W]`` in [-1,1] -> ``ab [B,2,H,W]`` normalised: the trained network and its loss's decode."""

    def __init__(self, net: nn.Module, loss_fn: nn.Module) -> None:
        super().__init__()
        self.net = net
        self.loss_fn = loss_fn

    def forward(self, L: torch.Tensor) -> torch.Tensor:  # noqa: N803 - L is the LAB channel's name
        return self.loss_fn.decode(self.net(L).float())

    @torch.no_grad()
    def colorize_normalized(self, L: torch.Tensor) -> torch.Tensor:  # noqa: N803
        return self(L)


def read_checkpoint(ckpt_path: str | os.PathLike) -> dict[str, Any]:
    """A ``train.py`` checkpoint as a dict, memory-mapped; one clear error for a wrong path or file."""
    path = Path(ckpt_path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist; pass the path train.py printed")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False, mmap=True)
    except Exception as e:  # noqa: BLE001 - any unpickling failure means "not a checkpoint" to the user
        raise ValueError(f"{path} is not a PyTorch checkpoint ({e.__class__.__name__}: {e})") from e
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt or "hyper_parameters" not in ckpt:
        raise ValueError(f"{path} is not a train.py checkpoint (it lacks 'state_dict' or 'hyper_parameters')")
    return ckpt


def load_trained(ckpt_path: str | os.PathLike, map_location: str | torch.device = "cpu") -> TrainedColorizer:
    """Network and loss from a checkpoint's hyper-parameters, weights from its state dict; eval mode."""
    ckpt = read_checkpoint(ckpt_path)
    hp = ckpt["hyper_parameters"]
    name, _, model_kw = split_model_config(offline_model_hparams(hp["model"]))
    loss_kw = dict(hp["loss"])
    loss_fn = create_loss(loss_kw.pop("name"), **loss_kw)
    net = create_model(name, out_channels=loss_fn.out_channels, **model_kw)
    state = ckpt["state_dict"]
    for prefix, part in (("net.", net), ("loss_fn.", loss_fn)):
        part.load_state_dict({k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)})
    return TrainedColorizer(net, loss_fn).to(map_location).eval()
