"""Image colorization experiments on LAB images.

``colorization.colorize(image, model)`` and ``colorization.load_colorizer(ckpt_path)`` colorize photos; the
training entry points are ``train.py`` / ``eval.py`` (Hydra apps over ``conf/``).
"""

import os

# On a busy CPU, OpenMP threads that spin while waiting fight other processes for the cores: a U-Net step
# measured 5x slower here. Passive waiting costs little when the machine is quiet. Must precede `import torch`.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"


def __getattr__(name: str):
    # Lazy, so `import colorization` stays light. `colorization.colorize` is also the submodule's name; that
    # module is callable (it forwards to colorize()), so colorization.colorize(image, model) always works.
    if name in ("colorize", "load_colorizer", "Colorizer"):
        import importlib

        module = importlib.import_module("colorization.colorize")
        return module if name == "colorize" else getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
