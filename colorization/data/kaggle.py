"""The Kaggle "image-colorization" layout: memory-mapped uint8 arrays of OpenCV 8-bit LAB.

On disk (as the Kaggle download ships it)::

    root/l/gray_scale.npy          (N, H, W)     uint8   L8
    root/ab/ab/ab1.npy ... abK.npy (n_k, H, W, 2) uint8   a8, b8   (sum n_k == N, paired in order)

or the flattened ``root/ab/ab1.npy ...``. Every source of this project (the download, a prepared folder of
photos, the built-in sample set) is stored this way, so one reader serves them all.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, get_worker_info

from colorization.errors import ConfigError

GRAY_FILE = Path("l") / "gray_scale.npy"
_AB_NAME = re.compile(r"^ab(\d+)\.npy$")


class DatasetError(ConfigError):
    """A dataset on disk is missing or malformed; the message names the file and what was expected (a user error:
    one line, no traceback)."""


def _ab_files(root: Path) -> list[Path]:
    """The ``abK.npy`` files in numeric order, from ``ab/ab/`` (as shipped) or ``ab/`` (flattened)."""
    for folder in (root / "ab" / "ab", root / "ab"):
        found = [p for p in folder.glob("ab*.npy") if _AB_NAME.match(p.name)] if folder.is_dir() else []
        if found:
            return sorted(found, key=lambda p: int(_AB_NAME.match(p.name).group(1)))
    raise DatasetError(
        f"no ab files found: expected {root / 'ab' / 'ab' / 'ab1.npy'} (or {root / 'ab' / 'ab1.npy'}) and "
        f"more abK.npy files of shape (n, H, W, 2) uint8 next to {root / GRAY_FILE}"
    )


def _open(path: Path, what: str) -> np.ndarray:
    if not path.is_file():
        raise DatasetError(f"missing file {path}: expected {what}")
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise DatasetError(f"cannot read {path} as a .npy array ({err}); expected {what}") from err


def _check(arr: np.ndarray, path: Path, ndim: int, what: str) -> None:
    if arr.dtype != np.uint8 or arr.ndim != ndim or (ndim == 4 and arr.shape[-1] != 2):
        raise DatasetError(f"{path} holds {arr.dtype} {tuple(arr.shape)}; expected {what}")


class KaggleLabDataset(Dataset):
    """Memory-mapped Kaggle-layout LAB images; ``ds[i]`` is uint8 ``[3, H, W]`` (L8, a8, b8).

    Opening reads only the .npy headers: no time or RAM in proportion to the data. ``indices`` restricts the
    dataset to a subset (a split); ``ds[[i, j, ...]]`` or :meth:`get_batch` returns a whole batch
    ``[B, 3, H, W]`` in one vectorised read, which is what the datamodule's batch sampler uses.
    Pickling (for DataLoader workers) carries only paths; each worker maps the files itself.

    :meth:`image_id` names an item's source for per-image results: ``names[k]`` of the stored image ``k`` when
    ``names`` (one per stored image, e.g. the sample set's photo and crop) are given, else ``kaggle:<k>``, ``k``
    its index in the full arrays, so the same image has the same id in every split and run.
    """

    def __init__(self, root: str | Path, indices: Sequence[int] | np.ndarray | None = None,
                 names: Sequence[str] | None = None) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise DatasetError(f"data.root={self.root}: no such folder; pass the folder that holds "
                               f"{GRAY_FILE} and ab/ab/ab1.npy ... (the Kaggle download's layout)")
        self._open_arrays()
        total = self._gray.shape[0]
        if indices is None:
            self.indices = np.arange(total, dtype=np.int64)
        else:
            self.indices = np.asarray(indices, dtype=np.int64).reshape(-1)
            if self.indices.size and (self.indices.min() < 0 or self.indices.max() >= total):
                raise DatasetError(f"indices out of range for {self.root}: the set holds {total} images")
        if names is not None and len(names) != total:
            raise DatasetError(f"{len(names)} image names for the {total} images of {self.root}")
        self.names = None if names is None else [str(n) for n in names]

    def _open_arrays(self) -> None:
        gray_path = self.root / GRAY_FILE
        self._gray = _open(gray_path, "an (N, H, W) uint8 array of L8")
        _check(self._gray, gray_path, 3, "an (N, H, W) uint8 array of L8")
        n, h, w = self._gray.shape
        self._ab: list[np.ndarray] = []
        for path in _ab_files(self.root):
            want = f"an (n, {h}, {w}, 2) uint8 array of a8, b8 matching {gray_path}"
            arr = _open(path, want)
            _check(arr, path, 4, want)
            if arr.shape[1:3] != (h, w):
                raise DatasetError(f"{path} holds images of {arr.shape[1]}x{arr.shape[2]}; expected {h}x{w} "
                                   f"like {gray_path}")
            self._ab.append(arr)
        counts = [a.shape[0] for a in self._ab]
        if sum(counts) != n:
            names = ", ".join(f"{p.name}={c}" for p, c in zip(_ab_files(self.root), counts, strict=True))
            raise DatasetError(f"{gray_path} holds {n} images but the ab files hold {sum(counts)} ({names}); "
                               f"expected the ab counts to add up to {n}")
        # starts[k] is the global index of the first image of ab file k.
        self._starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        for key in ("_gray", "_ab"):
            state.pop(key, None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._open_arrays()

    @property
    def image_size(self) -> tuple[int, int]:
        """``(H, W)`` of every image."""
        return int(self._gray.shape[1]), int(self._gray.shape[2])

    def __len__(self) -> int:
        return int(self.indices.size)

    def __getitem__(self, i: int | Sequence[int] | np.ndarray) -> torch.Tensor:
        """One image uint8 ``[3, H, W]``, or a batch ``[B, 3, H, W]`` when ``i`` is a sequence of indices."""
        if isinstance(i, int | np.integer):
            if not -len(self) <= i < len(self):
                raise IndexError(f"index {i} out of range for a dataset of {len(self)} images")
            return self.get_batch([int(i) % len(self)])[0]
        return self.get_batch(i)

    def image_id(self, i: int) -> str:
        """The id of item ``i`` (a position in this dataset): its name, or ``kaggle:<index in the full arrays>``."""
        k = int(self.indices[i])
        return self.names[k] if self.names is not None else f"kaggle:{k}"

    def __getitems__(self, positions: list[int]) -> torch.Tensor:
        """Batched fetch used by ``DataLoader`` (torch >= 2.1): the whole batch ``[B, 3, H, W]`` at once."""
        return self.get_batch(positions)

    def get_batch(self, positions: Sequence[int] | np.ndarray) -> torch.Tensor:
        """uint8 ``[B, 3, H, W]`` for dataset positions ``positions`` (in that order).

        Each image is copied straight from the memmaps into its slot of the output (gray plane, then the
        de-interleaved ab planes): one pass over the bytes, no intermediate batch arrays. Inside a DataLoader
        worker the output is allocated in shared memory, so handing it to the main process copies nothing.
        """
        pos = np.asarray(positions, dtype=np.int64).reshape(-1)
        glob = self.indices[pos]
        which = np.searchsorted(self._starts, glob, side="right") - 1
        local = glob - self._starts[which]
        h, w = self.image_size
        out = _empty_batch((glob.size, 3, h, w))
        arr = out.numpy()
        gray, ab = self._gray, self._ab
        for j in range(glob.size):
            arr[j, 0] = gray[glob[j]]
            arr[j, 1:] = ab[which[j]][local[j]].transpose(2, 0, 1)
        return out


def _empty_batch(shape: tuple[int, ...]) -> torch.Tensor:
    """An uninitialised uint8 tensor; in shared memory inside a DataLoader worker (as default_collate does)."""
    if get_worker_info() is None:
        return torch.empty(shape, dtype=torch.uint8)
    numel = int(np.prod(shape))
    storage = torch.empty(0, dtype=torch.uint8).untyped_storage()._new_shared(numel)
    return torch.empty(0, dtype=torch.uint8).set_(storage).view(shape)


def write_kaggle_layout(
    out_dir: str | Path,
    lab8: np.ndarray | torch.Tensor,
    splits: Sequence[int] | None = None,
    nested: bool = True,
) -> Path:
    """Write uint8 LAB images ``[N, 3, H, W]`` in the Kaggle layout under ``out_dir``; returns ``out_dir``.

    ``splits`` are the image counts of ``ab1.npy, ab2.npy, ...`` (they must add up to N; default: one file).
    ``nested=True`` writes ``ab/ab/abK.npy`` as the download ships, ``False`` the flattened ``ab/abK.npy``.
    For data too large for RAM, :mod:`colorization.data.prepare` streams into the same layout.
    """
    arr = lab8.numpy() if isinstance(lab8, torch.Tensor) else np.asarray(lab8)
    if arr.dtype != np.uint8 or arr.ndim != 4 or arr.shape[1] != 3:
        raise ValueError(f"lab8 must be uint8 [N, 3, H, W], got {arr.dtype} {tuple(arr.shape)}")
    n = arr.shape[0]
    counts = [n] if splits is None else [int(c) for c in splits]
    if sum(counts) != n or any(c < 0 for c in counts):
        raise ValueError(f"splits {counts} must be non-negative and add up to the {n} images")
    out = Path(out_dir)
    ab_dir = out / "ab" / "ab" if nested else out / "ab"
    (out / "l").mkdir(parents=True, exist_ok=True)
    ab_dir.mkdir(parents=True, exist_ok=True)
    np.save(out / GRAY_FILE, np.ascontiguousarray(arr[:, 0]))
    start = 0
    for k, c in enumerate(counts, start=1):
        np.save(ab_dir / f"ab{k}.npy", np.ascontiguousarray(arr[start : start + c, 1:].transpose(0, 2, 3, 1)))
        start += c
    return out
