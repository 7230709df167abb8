"""``colorization <command>`` (also ``python -m colorization <command>``): the project's tools behind one door.

Each command's module is imported only when that command runs, so ``--help`` answers at once.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

from colorization import prefer_passive_omp_waits

# command -> (module with a ``main(argv) -> int``, one line of help)
COMMANDS: dict[str, tuple[str, str]] = {
    "summary": ("colorization.reports.sweep_summary", "rebuild a sweep dir's summary, jobs table and report.html"),
    "export": ("colorization.inference.export", "export a checkpoint to ONNX or TorchScript"),
    "prepare": ("colorization.data.prepare", "turn a folder of photos into the Kaggle LAB layout"),
    "study-report": ("colorization.reports.study_report", "the study report of a finished sweep"),
    "resume": ("colorization.runs.resume_command", "continue a stopped sweep in its own dir (--dry-run, --failed)"),
}

USAGE = """usage: colorization <command> [options]   (or: python -m colorization <command>)

commands:
{commands}

`colorization <command> --help` describes a command's options. Training and evaluation are Hydra apps:
`python train.py --help`, `python eval.py --help`; colouring photos is `colorize --help`."""


def usage() -> str:
    width = max(len(name) for name in COMMANDS)
    return USAGE.format(commands="\n".join(f"  {name:<{width}}  {text}" for name, (_, text) in COMMANDS.items()))


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(usage())
        return 0 if args else 2
    command, rest = args[0], args[1:]
    if command not in COMMANDS:
        print(f"colorization: unknown command {command!r}; one of: {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    prefer_passive_omp_waits()  # before the command's module imports torch
    module = importlib.import_module(COMMANDS[command][0])
    return int(module.main(rest, prog=f"colorization {command}") or 0)


if __name__ == "__main__":
    raise SystemExit(main())
