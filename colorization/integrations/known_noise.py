"""The libraries' known-harmless messages, silenced one by one, each by its own text and with the reason.

A run's console should hold what the user must read. Each entry here was read, judged harmless for this project
and is matched by its message, so a new warning of the same library still shows. Two more are avoided at their
source rather than filtered: W&B's "anonymous setting has no effect" (Lightning's logger passed ``anonymous=None``
to ``wandb.init``; :mod:`colorization.integrations.wandb` opens the run itself, without it) and Gradio's
``share=True`` hint and "Keyboard interruption" line (``colorize --serve`` launches quietly and stops the server
itself: :mod:`colorization.serve.app`).
"""

from __future__ import annotations

import logging
import warnings

__all__ = ["KNOWN_LOG_LINES", "KNOWN_WARNINGS", "silence_known_noise"]

# (message regex, warning category, why it is harmless here)
KNOWN_WARNINGS: list[tuple[str, type[Warning], str]] = [
    (r"`isinstance\(treespec, LeafSpec\)` is deprecated", FutureWarning,
     "Lightning 2.6's own pytree helper uses torch's deprecated LeafSpec; nothing of ours, and it works"),
    (r"The `srun` command is available on your system but is not used", Warning,
     "a machine with SLURM installed may run jobs locally on purpose; hydra/launcher=slurm runs them under srun"),
]

# (logger name, the start of the message, why it is harmless here)
KNOWN_LOG_LINES: list[tuple[str, str, str]] = [
    (name, "💡 Tip: For seamless cloud logging", "an advertisement for Lightning's cloud logger, shown every run")
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero")
]


class _DropStartingWith(logging.Filter):
    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.prefix)


def silence_known_noise() -> None:
    """Install the filters of :data:`KNOWN_WARNINGS` and :data:`KNOWN_LOG_LINES` (idempotent; process-wide)."""
    for message, category, _why in KNOWN_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=category)
    for name, prefix, _why in KNOWN_LOG_LINES:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropStartingWith) and f.prefix == prefix for f in logger.filters):
            logger.addFilter(_DropStartingWith(prefix))
