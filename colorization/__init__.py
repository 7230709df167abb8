"""Image colorization experiments on LAB images.

``colorization.colorize(image, model)`` and ``colorization.load_colorizer(ckpt_path)`` colorize photos; the
training entry points are ``train.py`` / ``eval.py`` (Hydra apps over ``conf/``).
"""

import os

__version__ = "0.1.0"


def prefer_passive_omp_waits() -> None:
    """Let OpenMP threads sleep, not spin, while they wait (``OMP_WAIT_POLICY=PASSIVE`` unless set).

    On a busy CPU, spinning threads fight other processes for the cores: a U-Net step measured 5x slower here.
    Passive waiting costs little when the machine is quiet. OpenMP reads it once, when torch loads it, so each
    entry point (train.py, eval.py, colorize, ``python -m colorization``, the benchmarks) calls this before
    anything imports torch; importing the package itself changes nothing.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


_LAZY = {"colorize": "colorization.inference.colorizer", "load_colorizer": "colorization.inference.colorizer",
         "Colorizer": "colorization.inference.colorizer"}


def __getattr__(name: str):
    # Lazy, so `import colorization` stays light (no torch until a name is used).
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
