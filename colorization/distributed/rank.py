"""Which rank this process is, read from the environment (before or without a Lightning trainer)."""

from __future__ import annotations

import os

# Lightning's re-launched children get LOCAL_RANK / NODE_RANK; srun tasks get SLURM_PROCID; torchrun gets RANK.
_RANK_VARS = ("RANK", "SLURM_PROCID")


def env_global_rank() -> int:
    """The global rank of this process: 0 for the process that a user or a sweep started."""
    for name in _RANK_VARS:
        if os.environ.get(name, "").isdigit():
            return int(os.environ[name])
    local, node = os.environ.get("LOCAL_RANK", ""), os.environ.get("NODE_RANK", "0")
    if local.isdigit():
        world = env_world_size()
        nodes = max(1, int(os.environ.get("SLURM_NNODES", "1") or 1))
        per_node = max(1, world // nodes)
        return int(node or 0) * per_node + int(local)
    return 0


def env_world_size() -> int:
    """The number of processes of this job as the environment says; 1 outside any distributed launch."""
    for name in ("WORLD_SIZE", "SLURM_NTASKS"):
        if os.environ.get(name, "").isdigit():
            return int(os.environ[name])
    return 1
