"""The 313 in-gamut ab bins of Zhang et al. 2016 and an exact, vectorised k-nearest-bin search.

The bins are the paper's released ``pts_in_hull.npy``: centres on a grid of 10 in ab* units, a-major and
b ascending. The nearest-bin search is what soft-encoding and the empirical prior run on every pixel, so it
must be cheap at ``B*H*W`` ~ 10^6: a lookup table maps each small square cell of the ab* plane to the few
bins that can possibly be among the k nearest of *any* point in that cell, and exact distances are then
computed only to those candidates (13 instead of 313).
"""

from __future__ import annotations

import functools
import math

import torch

AB_GRID_STEP = 10  # spacing of the bin centres in ab* units (fixed by the paper's gamut)

# (a*, b*_min, b*_max) per row of the gamut, as in the paper's pts_in_hull.npy.
AB_BIN_ROWS: tuple[tuple[int, int, int], ...] = (
    (-90, 50, 90), (-80, 20, 90), (-70, 0, 90), (-60, -20, 90), (-50, -30, 100),
    (-40, -40, 100), (-30, -50, 100), (-20, -50, 100), (-10, -60, 100), (0, -70, 100),
    (10, -80, 90), (20, -80, 90), (30, -90, 90), (40, -100, 90), (50, -100, 80),
    (60, -110, 80), (70, -110, 80), (80, -110, 70), (90, -110, 70), (100, -90, 0),
)  # fmt: skip
NUM_AB_BINS = 313

__all__ = [
    "AB_BIN_ROWS", "AB_GRID_STEP", "NUM_AB_BINS", "ab_bins", "bin_index_of", "candidate_table", "knn_bins",
]  # fmt: skip


def ab_bins() -> torch.Tensor:
    """The bin centres, float32 ``[313, 2]`` as ``(a*, b*)``, a-major then b ascending."""
    pts = [(a, b) for a, b_lo, b_hi in AB_BIN_ROWS for b in range(b_lo, b_hi + 1, AB_GRID_STEP)]
    assert len(pts) == NUM_AB_BINS, len(pts)
    return torch.tensor(pts, dtype=torch.float32)


def bin_index_of(a: float, b: float) -> int:
    """Index of the bin whose centre is exactly ``(a*, b*)``; ``ValueError`` if it is not a bin."""
    hits = ((ab_bins() - torch.tensor([a, b])).abs().sum(1) == 0).nonzero()
    if hits.numel() != 1:
        raise ValueError(f"({a}, {b}) is not one of the 313 ab bin centres")
    return int(hits[0, 0])


@functools.lru_cache(maxsize=8)
def _candidate_table(k: int, lo: float, hi: float, cell: float) -> torch.Tensor:
    bins = ab_bins().double()
    n = int(round((hi - lo) / cell))
    centres_1d = lo + cell * (torch.arange(n, dtype=torch.float64) + 0.5)
    ca, cb = torch.meshgrid(centres_1d, centres_1d, indexing="ij")
    centres = torch.stack([ca.reshape(-1), cb.reshape(-1)], 1)  # [n*n, 2], a-major like the table index
    dist = torch.cdist(centres, bins)  # [n*n, 313]
    kth = dist.topk(k, dim=1, largest=False).values[:, -1:]
    # A point p in the cell is within r = half-diagonal of the centre c. Its k-th nearest distance is at most
    # D_k(c) + r, and a bin q is no nearer to p than d(c, q) - r, so bins with d(c, q) > D_k(c) + 2r can
    # never be among p's k nearest. The small slack keeps exact ties.
    reach = kth + cell * math.sqrt(2.0) + 1e-6
    inside = dist <= reach
    width = int(inside.sum(1).max())
    # Each row: its candidates in ascending bin index, then padding (-1). Ascending index plus a stable sort
    # in knn_bins makes ties (common: integer ab* halfway between bins) go to the lowest index, always.
    index = torch.arange(NUM_AB_BINS).expand_as(inside)
    order = torch.where(inside, index, NUM_AB_BINS + index).argsort(dim=1)[:, :width]
    valid = torch.gather(inside, 1, order)
    return torch.where(valid, order, torch.full_like(order, -1))


def candidate_table(k: int = 5, lo: float = -128.0, hi: float = 128.0, cell: float = 4.0) -> torch.Tensor:
    """Lookup table ``[n*n, K]`` int64 (``n = (hi-lo)/cell``) of candidate bins per cell, padded with -1.

    Row ``ia * n + ib`` belongs to the cell ``[lo + ia*cell, lo + (ia+1)*cell) x [lo + ib*cell, ...)``.
    ``K`` is the largest number of candidates any cell needs (13 for ``k=5``, ``cell=4``); smaller cells
    need slightly fewer candidates but a larger table that takes longer to build.
    """
    return _candidate_table(int(k), float(lo), float(hi), float(cell)).clone()


def knn_bins(
    ab_star: torch.Tensor,
    table: torch.Tensor,
    bins: torch.Tensor,
    k: int = 5,
    lo: float = -128.0,
    cell: float = 4.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` nearest bins of each ab* point, exact, sorted nearest first.

    Args:
        ab_star: ``[N, 2]`` float, ab in ab* units (about [-128, 127]).
        table: :func:`candidate_table` built with the same ``k``, ``lo``, ``cell``; on ``ab_star``'s device.
        bins: ``[313, 2]`` bin centres (:func:`ab_bins`) on the same device.
    Returns:
        ``(sq_dist [N, k] float, index [N, k] int64)``, nearest first; among equally distant bins the lower
        index comes first, so the result is deterministic and equals a stable sort over all 313 bins.
        Points outside ``[lo, hi)`` use the nearest border cell's candidates (exact for data from 8-bit LAB,
        which never leaves that range).
    """
    n = int(round(math.sqrt(table.shape[0])))
    ab = ab_star.float()
    cells = ((ab - lo) / cell).floor().long().clamp_(0, n - 1)
    cand = table[cells[:, 0] * n + cells[:, 1]]  # [N, K]
    pad = cand < 0
    cand = cand.clamp(min=0)
    d2 = (ab[:, :1] - bins[cand, 0]).square_() + (ab[:, 1:] - bins[cand, 1]).square_()
    d2 = d2.masked_fill_(pad, math.inf)
    d2k, pos = torch.sort(d2, dim=1, stable=True)  # stable: ties keep ascending bin index
    return d2k[:, :k], cand.gather(1, pos[:, :k])
