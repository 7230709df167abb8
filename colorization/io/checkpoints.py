"""Checkpoints as files: read a ``train.py`` checkpoint into a dict, safely, with one sentence for a wrong file.

A checkpoint is data, never code: it is read with ``torch.load(weights_only=True)``, so a file that carries
Python objects (whose unpickling could run anything) is refused, never executed. What a checkpoint must hold:
a ``state_dict``, the plain ``hyper_parameters`` ``model`` and ``loss``, and ``format_version``
(:data:`CHECKPOINT_FORMAT_VERSION`): the day a change breaks older files, this is the one place that says so.

Building a network from what it holds is :mod:`colorization.inference.checkpoint`'s business; this module knows
only the file.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from colorization.errors import ConfigError

__all__ = ["CHECKPOINT_FORMAT_VERSION", "CheckpointError", "network_parts", "read_checkpoint", "safe_load"]

# Written into every checkpoint by the training module; raise it when a change makes older checkpoints unreadable.
CHECKPOINT_FORMAT_VERSION = 1
CODE_WARNING = "holds Python objects that would run code when loaded; only load checkpoints of train.py"


class CheckpointError(ConfigError):
    """A file that is not a readable ``train.py`` checkpoint; the message starts with the path (a user error: one
    line, no traceback)."""


def safe_load(path: str | os.PathLike, mmap: bool = True) -> Any:
    """``torch.load`` of ``path`` restricted to tensors and plain containers (``weights_only=True``), on the CPU.

    Raises :class:`CheckpointError` naming the path: for a file that holds other Python objects (its pickle would
    run code) and for one that is not a PyTorch file at all.
    """
    path = Path(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as e:
        if "weights_only" in str(e) or "Unsupported global" in str(e) or "Unsupported operand" in str(e):
            raise CheckpointError(f"{path} {CODE_WARNING}") from e
        raise CheckpointError(f"{path} is not a PyTorch checkpoint (UnpicklingError: {str(e).splitlines()[0]})") from e
    except Exception as e:  # noqa: BLE001 - a zip, mmap or format error all mean "not a checkpoint" to the user
        first = (str(e).splitlines() or [""])[0]
        raise CheckpointError(f"{path} is not a PyTorch checkpoint ({e.__class__.__name__}: {first})") from e


def read_checkpoint(ckpt_path: str | os.PathLike) -> dict[str, Any]:
    """A ``train.py`` checkpoint as a dict, memory-mapped and safely loaded.

    ``FileNotFoundError`` for a missing path; :class:`CheckpointError` (its message starts with the path) for a
    file that is not a PyTorch checkpoint, holds Python objects, is not a ``train.py`` checkpoint, or was written
    in another format version.
    """
    path = Path(ckpt_path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist; pass the path train.py printed")
    ckpt = safe_load(path)
    hp = ckpt.get("hyper_parameters") if isinstance(ckpt, dict) else None
    if not isinstance(ckpt.get("state_dict") if isinstance(ckpt, dict) else None, Mapping) or not (
        isinstance(hp, Mapping) and isinstance(hp.get("model"), Mapping) and isinstance(hp.get("loss"), Mapping)
    ):
        raise CheckpointError(f"{path} is not a train.py checkpoint (it lacks a state_dict or model/loss "
                              "hyper-parameters)")
    version = ckpt.get("format_version")
    if version != CHECKPOINT_FORMAT_VERSION:
        found = "no format_version" if version is None else f"format_version {version!r}"
        raise CheckpointError(f"{path} has {found}; this colorization reads format_version "
                              f"{CHECKPOINT_FORMAT_VERSION} (retrain, or use the colorization version that wrote it)")
    return ckpt


def network_parts(ckpt: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """A read checkpoint -> ``({"model", "loss"} hyper-parameters, the ``net.`` and ``loss_fn.`` state)``: what
    colouring needs (the optimizer, metrics and a GAN's discriminator are training business)."""
    hp = ckpt["hyper_parameters"]
    state = {k: v for k, v in ckpt["state_dict"].items() if k.startswith(("net.", "loss_fn."))}
    return {"model": dict(hp["model"]), "loss": dict(hp["loss"])}, state
