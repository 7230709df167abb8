"""Weights & Biases without surprises: offline unless the user is logged in, never a login prompt."""

from __future__ import annotations

import netrc
import os
from pathlib import Path
from typing import Any

from lightning.pytorch.loggers import WandbLogger


def wandb_logged_in() -> bool:
    """True when an API key is at hand (environment or ``~/.netrc`` as ``wandb login`` writes it)."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    path = Path(os.environ.get("NETRC", Path.home() / ".netrc"))
    try:
        hosts = netrc.netrc(str(path)).hosts
    except (FileNotFoundError, netrc.NetrcParseError, OSError):
        return False
    return any("wandb" in host for host in hosts)


def wandb_mode() -> str:
    """``WANDB_MODE`` when the user set it, else online when logged in, else offline."""
    mode = os.environ.get("WANDB_MODE")
    if mode:
        return mode
    return "online" if wandb_logged_in() else "offline"


def wandb_logger(save_dir: str, **kwargs: Any) -> WandbLogger:
    """A Lightning ``WandbLogger`` whose files live in the run dir (``<save_dir>/wandb``).

    Offline by default; ``WANDB_MODE=online`` or a ``wandb login`` switches to online. Extra kwargs go to
    ``wandb.init`` (group, tags, job_type, ...).
    """
    mode = wandb_mode()
    # Never wait on a terminal for a key: an offline run needs none, and an online run without one should fail.
    os.environ.setdefault("WANDB_SILENT", "true")
    os.environ.setdefault("WANDB_DISABLE_GIT", "true")
    Path(save_dir).mkdir(parents=True, exist_ok=True)
    return WandbLogger(save_dir=save_dir, mode=mode, offline=(mode == "offline"), **kwargs)
