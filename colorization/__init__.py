"""Image colorization experiments on LAB images."""

__version__ = "0.1.0"
