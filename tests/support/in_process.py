"""Running ``train`` / ``evaluate`` inside the test process: the config composed by Hydra's compose API.

A subprocess of ``train.py`` pays ~6.6 s of Lightning + Hydra imports before its first step; in the test process
those imports are paid once per session. The job goes through :func:`colorization.runs.job.run_job` as the CLI's
does (status file, W&B run closed, environment restored), so only the command line itself is not exercised here.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

from tests.support.entry_points import REPO

CONF_DIR = REPO / "conf"


def compose_config(config_name: str, overrides: list[str], output_dir: Path, data_dir: Path) -> DictConfig:
    """The job config ``<config_name>.yaml`` + ``overrides`` as ``train.py`` would see it, with its hydra node.

    ``output_dir`` stands in for the run dir Hydra would make (``paths.output_dir``); ``data_dir`` holds the
    sample-set cache (``paths.data_dir``).
    """
    import colorization.config  # noqa: F401 - registers the resolvers the configs use

    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name, overrides=[*overrides, f"paths.output_dir={output_dir}",
                                              f"paths.data_dir={data_dir}"], return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(output_dir)
        cfg.hydra.job.name = config_name
    return cfg


def run_in_process(config_name: str, task: Callable[[DictConfig], dict[str, Any]], overrides: list[str],
                   output_dir: Path, data_dir: Path) -> dict[str, Any]:
    """Compose the config, run ``task`` through the job boundary and return its result dict.

    The hydra node is published as ``HydraConfig`` for the duration (``${hydra:runtime.choices.model}`` in the
    W&B tags, the model/loss names in ``job_status.json``) and taken out of the job config, as Hydra's own
    ``run_job`` does. A failing task raises, as a single run of the CLI does.
    """
    from colorization.runs.job import run_job

    cfg = compose_config(config_name, overrides, output_dir, data_dir)
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        del cfg["hydra"]
    result: dict[str, Any] = {}
    try:
        run_job(cfg, lambda c: result.setdefault("value", task(c)))
    finally:
        HydraConfig.instance().cfg = None
    return result["value"]


def train_in_process(overrides: list[str], output_dir: Path, data_dir: Path) -> dict[str, Any]:
    """``colorization.train.train`` on ``conf/train.yaml`` + ``overrides``: ``{"metrics", "best_ckpt", ...}``."""
    from colorization.train import train

    return run_in_process("train", train, overrides, output_dir, data_dir)


def evaluate_in_process(overrides: list[str], output_dir: Path, data_dir: Path) -> dict[str, Any]:
    """``colorization.eval.evaluate`` on ``conf/eval.yaml`` + ``overrides``: ``{"metrics", "ckpt_path", ...}``."""
    from colorization.eval import evaluate

    return run_in_process("eval", evaluate, overrides, output_dir, data_dir)
