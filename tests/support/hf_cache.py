"""A Hugging Face hub cache on disk, as ``hf_hub_download`` leaves it, holding timm-format weights.

``HF_HUB_OFFLINE=1`` makes timm load ``timm/<model>.<tag>`` from ``$HF_HOME/hub`` without the network, so a test
can prove the transfer-learning path (and the default ``model=resnet|unet`` configs can build) on a machine
without internet. The weights are a seeded random init of the timm classifier: the right names and shapes, not
ImageNet's values.
"""

from __future__ import annotations

from pathlib import Path

import timm
import torch
from safetensors.torch import save_file

REVISION = "0" * 40  # a commit hash; refs/main points at it as after a real download


def write_timm_weights(hf_home: Path, model_name: str) -> str:
    """Write ``model.safetensors`` of timm ``model_name``'s default pretrained tag into ``hf_home/hub``.

    Returns the hub id (e.g. ``timm/resnet34.a1_in1k``). Idempotent.
    """
    hub_id = timm.models.get_pretrained_cfg(model_name).hf_hub_id
    repo = Path(hf_home) / "hub" / f"models--{hub_id.replace('/', '--')}"
    weights = repo / "snapshots" / REVISION / "model.safetensors"
    if not weights.is_file():
        torch.manual_seed(0)
        state = timm.create_model(model_name, pretrained=False).state_dict()
        weights.parent.mkdir(parents=True, exist_ok=True)
        save_file({k: v.contiguous() for k, v in state.items()}, str(weights))
        (repo / "refs").mkdir(exist_ok=True)
        (repo / "refs" / "main").write_text(REVISION)
    return hub_id
