"""Config plumbing for the Hydra entry points: the resolvers the configs use, and building callback/logger lists.

Resolvers are registered on import (before Hydra composes): ``colorization.pid``, ``colorization.sweep_group``,
``colorization.pyramid``, ``colorization.precision`` and ``colorization.first_dir``.
"""

from __future__ import annotations

import logging
import os
import string
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, ListConfig, OmegaConf

log = logging.getLogger(__name__)


def _pid() -> int:
    # Cached per process by OmegaConf: every interpolation in one run sees the same value.
    return os.getpid()


def sweep_group_for(sweep_dir: str | os.PathLike) -> str:
    """The W&B group of a sweep's runs: ``sweep-<date>_<time-pid>`` from its directory's last two parts."""
    return "sweep-" + "_".join(os.path.normpath(os.fspath(sweep_dir)).split(os.sep)[-2:])


def _sweep_group(default: str) -> str:
    """The W&B group of a run: :func:`sweep_group_for` its sweep in a multirun, else ``default``."""
    try:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        hc = HydraConfig.get()
        if hc.mode == RunMode.MULTIRUN:
            return sweep_group_for(hc.sweep.dir)
    except (ValueError, ImportError):
        pass
    return default


def _pyramid(base: int, n: int, descending: bool = False) -> ListConfig:
    """Channel widths doubling per level: ``(16, 5, True) -> [256, 128, 64, 32, 16]``.

    Lets one number (``model.width``) scale a whole network, so a sweep or Optuna can tune it.
    """
    widths = [int(base) * 2**i for i in range(int(n))]
    # A ListConfig, not a list: OmegaConf.resolve() only accepts config nodes and primitives.
    return OmegaConf.create(widths[::-1] if descending else widths)


def _precision(mode: str = "auto") -> str:
    """``auto``: bf16-mixed or 16-mixed for this process's GPU (see :mod:`colorization.training.precision`)."""
    # Imported here: torch is only needed once a trainer config is resolved, not to compose one.
    from colorization.training.precision import resolve_precision

    return resolve_precision(mode)


def first_dir(*candidates: str) -> str:
    """The first of ``candidates`` that is an existing directory, else the last one (the place to put data).

    ``${colorization.first_dir:/kaggle/input/image-colorization,${paths.data_dir}/kaggle}`` finds a notebook's
    mounted dataset by itself and falls back to the project's data folder.
    """
    if not candidates:
        raise ValueError("colorization.first_dir needs at least one path")
    return next((str(c) for c in candidates if os.path.isdir(str(c))), str(candidates[-1]))


def register_resolvers() -> None:
    """Idempotent: safe to call from every entry point."""
    if not OmegaConf.has_resolver("colorization.pid"):
        OmegaConf.register_new_resolver("colorization.pid", _pid, use_cache=True)
    if not OmegaConf.has_resolver("colorization.sweep_group"):
        OmegaConf.register_new_resolver("colorization.sweep_group", _sweep_group)
    if not OmegaConf.has_resolver("colorization.pyramid"):
        OmegaConf.register_new_resolver("colorization.pyramid", _pyramid)
    if not OmegaConf.has_resolver("colorization.precision"):
        OmegaConf.register_new_resolver("colorization.precision", _precision)
    if not OmegaConf.has_resolver("colorization.first_dir"):
        OmegaConf.register_new_resolver("colorization.first_dir", first_dir)


register_resolvers()


def instantiate_dict(cfg: DictConfig | None, kind: str) -> list[Any]:
    """Instantiate every entry of a ``{name: {_target_: ...}}`` group; ``null`` entries switch one off."""
    if not cfg:
        return []
    if not isinstance(cfg, DictConfig):
        raise TypeError(f"{kind} config must be a mapping of name -> config, got {type(cfg).__name__}")
    out = []
    for name, conf in cfg.items():
        if isinstance(conf, DictConfig) and "_target_" in conf:
            log.info("instantiating %s <%s> (%s)", kind, conf._target_, name)
            out.append(hydra.utils.instantiate(conf))
    return out


def app_config_groups(config_dir: str | os.PathLike) -> str:
    """``group: option, option, ...`` per line for every config group under ``config_dir`` (Hydra's own settings
    and groups without options left out), as Hydra's ``$APP_CONFIG_GROUPS`` lists them."""
    lines = []
    for group in sorted(p for p in Path(config_dir).iterdir() if p.is_dir() and p.name != "hydra"):
        options = sorted(f.stem for f in group.glob("*.yaml"))
        if options:
            lines.append(f"{group.name}: {', '.join(options)}")
    return "\n".join(lines)


def answer_help(app: str, config_dir: str | os.PathLike, argv: Sequence[str] | None = None) -> bool:
    """Print ``conf/hydra/help/<app>.yaml``'s usage and return True when ``argv`` asks for ``--help`` / ``-h``.

    The same text ``hydra.help.template`` holds, but answered here, before Hydra: Hydra's own ``--help`` composes
    every group's options through deep copies (~4 s on a loaded 2-core box, as long as importing torch).
    ``--hydra-help`` still reaches Hydra."""
    args = sys.argv[1:] if argv is None else list(argv)
    if not {"--help", "-h"} & set(args):
        return False
    template = OmegaConf.load(Path(config_dir) / "hydra" / "help" / f"{app}.yaml").template
    print(string.Template(template).safe_substitute(APP_CONFIG_GROUPS=app_config_groups(config_dir)))
    return True
