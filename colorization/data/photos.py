"""Real colour photos that ship inside installed wheels: the raw material of the built-in sample set.

No download: scikit-image, scikit-learn and matplotlib carry these files in their packages.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

# Colour photos only: skimage.data also holds grayscale and synthetic images (colorwheel), which teach no
# colour, and "cat" is chelsea again.
SKIMAGE_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry",
                  "retina")


def _skimage(name: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        import skimage.data

        return getattr(skimage.data, name)()

    return load


def _sklearn(name: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        from sklearn.datasets import load_sample_image

        return load_sample_image(name)

    return load


def _grace_hopper() -> np.ndarray:
    import matplotlib
    from PIL import Image

    path = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    return np.asarray(Image.open(path).convert("RGB"))


def photo_loaders() -> dict[str, Callable[[], np.ndarray]]:
    """Name -> loader of every built-in photo that this installation has; each returns RGB uint8 [H, W, 3]."""
    import skimage.data

    loaders: dict[str, Callable[[], np.ndarray]] = {
        f"skimage_{n}": _skimage(n) for n in SKIMAGE_PHOTOS if hasattr(skimage.data, n)
    }
    if hasattr(skimage.data, "stereo_motorcycle"):
        # The left view only: the right one is nearly the same picture and could land in another split.
        loaders["skimage_motorcycle"] = lambda: skimage.data.stereo_motorcycle()[0]
    loaders["sklearn_china"] = _sklearn("china.jpg")
    loaders["sklearn_flower"] = _sklearn("flower.jpg")
    loaders["matplotlib_grace_hopper"] = _grace_hopper
    return loaders


def load_photo(name: str) -> np.ndarray:
    """One built-in photo as RGB uint8 [H, W, 3] (alpha dropped)."""
    img = photo_loaders()[name]()
    if img.ndim != 3 or img.shape[2] < 3:
        raise ValueError(f"built-in photo {name} is not a colour image: shape {img.shape}")
    return np.ascontiguousarray(img[..., :3]).astype(np.uint8)


def builtin_photos() -> dict[str, np.ndarray]:
    """All built-in photos, name -> RGB uint8 [H, W, 3], in a stable (sorted) order."""
    return {name: load_photo(name) for name in sorted(photo_loaders())}
