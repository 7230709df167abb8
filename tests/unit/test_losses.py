"""Losses: the 313-bin gamut, soft-encoding, rebalancing, the annealed mean, the prior cache, the registry."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from colorization.color import rgb_to_lab8
from colorization.losses import (
    ClassificationLoss,
    ab_bins,
    cached_prior,
    class_weights,
    create_loss,
    estimate_ab_prior,
    list_losses,
)
from colorization.losses.ab_bins import bin_index_of, candidate_table, knn_bins
from colorization.losses.rebalance import smooth_prior
from colorization.losses.resolution import head_size, pool_to_stride, upsample_from_stride

# The paper's pts_in_hull.npy as rows "a: b_min..b_max" (grid 10), written out independently of the package.
PAPER_ROWS = {
    -90: (50, 90), -80: (20, 90), -70: (0, 90), -60: (-20, 90), -50: (-30, 100), -40: (-40, 100),
    -30: (-50, 100), -20: (-50, 100), -10: (-60, 100), 0: (-70, 100), 10: (-80, 90), 20: (-80, 90),
    30: (-90, 90), 40: (-100, 90), 50: (-100, 80), 60: (-110, 80), 70: (-110, 80), 80: (-110, 70),
    90: (-110, 70), 100: (-90, 0),
}  # fmt: skip


def _brute_knn(ab_star: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    d2 = ((ab_star[:, None, :].double() - ab_bins()[None].double()) ** 2).sum(-1)
    values, index = torch.sort(d2, dim=1, stable=True)  # ties: lowest bin index first, as promised
    return values[:, :k], index[:, :k]


def test_bins_equal_the_paper_table_in_order():
    expected = [(a, b) for a in sorted(PAPER_ROWS) for b in range(PAPER_ROWS[a][0], PAPER_ROWS[a][1] + 1, 10)]
    assert len(expected) == 313
    assert ab_bins().tolist() == [[float(a), float(b)] for a, b in expected]


def test_knn_is_exact_against_brute_force():
    g = torch.Generator().manual_seed(0)
    pts = torch.cat([
        torch.rand(4000, 2, generator=g) * 255 - 128,  # anywhere in the 8-bit range
        torch.randint(-128, 128, (2000, 2), generator=g).float(),  # 8-bit integers
        torch.randint(-11, 11, (200, 2), generator=g).float() * 10 + 5,  # cell midpoints: many ties
    ])  # fmt: skip
    d2, idx = knn_bins(pts, candidate_table(5), ab_bins(), k=5)
    ref_d2, _ = _brute_knn(pts, 5)
    # Distances agree (indices may differ only among exact ties); the returned indices are at those distances.
    assert torch.allclose(d2.double(), ref_d2, rtol=1e-5, atol=1e-3)
    at = ((pts[:, None, :] - ab_bins()[idx]) ** 2).sum(-1)
    assert torch.allclose(at, d2, rtol=1e-5, atol=1e-3)
    assert (idx.sort(1).values.diff(dim=1) > 0).all()  # five distinct bins
    # On integer ab* (all 8-bit data) distances are exact in float32, so even tie-breaking matches.
    _, ref_idx = _brute_knn(pts[4000:], 5)
    assert torch.equal(idx[4000:], ref_idx)


def test_soft_encoding_sums_to_one_with_five_nonzeros_nearest_largest():
    loss = ClassificationLoss()
    g = torch.Generator().manual_seed(1)
    target = torch.rand(2, 2, 6, 7, generator=g) * 1.6 - 0.8
    idx, z = loss.encode(target)
    assert idx.shape == z.shape == (2, 5, 6, 7)
    torch.testing.assert_close(z.sum(1), torch.ones(2, 6, 7))
    dense = torch.zeros(2, 313, 6, 7).scatter_(1, idx, z)
    assert ((dense > 0).sum(1) == 5).all()
    assert (dense.argmax(1) == idx[:, 0]).all()
    # The weights are the exact Gaussian (σ = 5) of the true ab's distances, normalised.
    ab_star = target.permute(0, 2, 3, 1).reshape(-1, 2) * 128
    d2, _ = _brute_knn(ab_star, 5)
    ref = torch.softmax(-d2 / 50.0, dim=1).float().view(2, 6, 7, 5).permute(0, 3, 1, 2)
    torch.testing.assert_close(z, ref, rtol=1e-4, atol=1e-5)


def test_decoding_a_one_hot_bin_gives_its_ab():
    loss = ClassificationLoss()
    picks = [0, 100, 200, 312, bin_index_of(0, 0), bin_index_of(-90, 50), bin_index_of(100, -90)]
    logits = torch.zeros(1, 313, 1, len(picks))
    for j, q in enumerate(picks):
        logits[0, q, 0, j] = 30.0  # very peaked; at T = 0.38 all other bins get < e^-78 of the mass
    ab = loss.decode(logits)
    torch.testing.assert_close(ab[0, :, 0, :].T * 128, ab_bins()[picks], atol=1e-3, rtol=0)


def test_annealed_mean_between_mean_and_mode():
    loss_t = ClassificationLoss(temperature=0.38)
    loss_1 = ClassificationLoss(temperature=1.0)
    logits = torch.full((1, 313, 1, 1), -10.0)
    logits[0, bin_index_of(0, 0)] = 2.0
    logits[0, bin_index_of(50, 50)] = 1.0
    a_t = loss_t.decode(logits)[0, 0, 0, 0] * 128
    a_1 = loss_1.decode(logits)[0, 0, 0, 0] * 128
    assert 0.0 < a_t < a_1 < 50.0  # a lower temperature pulls the mean towards the mode (0, 0)


def test_class_weights_have_unit_expectation():
    g = torch.Generator().manual_seed(2)
    prior = torch.rand(313, generator=g) ** 4
    prior /= prior.sum()
    w = class_weights(prior, lam=0.5)
    assert torch.isclose((prior * w).sum(), torch.tensor(1.0), atol=1e-5)
    assert w[prior.argmax()] < 1.0 < w[prior.argmin()]  # rare colours weigh more
    uniform = torch.full((313,), 1.0 / 313)
    torch.testing.assert_close(class_weights(uniform), torch.ones(313))
    torch.testing.assert_close(class_weights(prior, lam=1.0), torch.ones(313))  # λ=1: no rebalancing


@pytest.mark.parametrize("stride", [1, 4])
def test_ce_loss_equals_dense_reference_with_rebalancing(stride):
    g = torch.Generator().manual_seed(3)
    prior = torch.rand(313, generator=g)
    loss = ClassificationLoss(prior=prior, output_stride=stride)
    pred = torch.randn(2, 313, 5, 4, generator=g)
    # Full size: 5x4 cells of stride x stride pixels; the last cell row / column hangs one pixel over the edge.
    target = torch.rand(2, 2, 5 * stride - (stride > 1), 4 * stride - (stride > 1), generator=g) * 1.4 - 0.7
    # The reference target of a cell: the mean ab of the pixels it holds (written out, not via the package).
    cells = torch.zeros(2, 2, 5, 4)
    for i in range(5):
        for j in range(4):
            cells[:, :, i, j] = target[:, :, i * stride : (i + 1) * stride, j * stride : (j + 1) * stride].mean((2, 3))
    if stride > 1:  # edge cells average the replicated last row / column, which weighs it (stride - 1) / stride
        torch.testing.assert_close(loss.target_at_head(target)[..., :4, :3], cells[..., :4, :3])
        cells = loss.target_at_head(target)
    idx, z = loss.encode(cells)
    dense = torch.zeros_like(pred).scatter_(1, idx, z)
    pred_ref = pred.clone().requires_grad_()
    ce = -(dense * torch.log_softmax(pred_ref, 1)).sum(1)
    ref = (class_weights(prior / prior.sum())[idx[:, 0]] * ce).mean()
    pred.requires_grad_()
    value = loss(pred, target)
    torch.testing.assert_close(value, ref, rtol=1e-5, atol=1e-6)
    # The hand-written backward (softmax - target, weighted) equals autograd through the dense formula.
    (3.0 * value).backward()
    (3.0 * ref).backward()
    torch.testing.assert_close(pred.grad, pred_ref.grad, rtol=1e-5, atol=1e-8)


def test_ce_of_the_soft_target_beats_uniform_logits():
    loss = ClassificationLoss(output_stride=1)
    target = torch.rand(1, 2, 4, 4, generator=torch.Generator().manual_seed(4)) * 1.2 - 0.6
    idx, z = loss.encode(target)
    perfect = torch.log(torch.zeros(1, 313, 4, 4).scatter_(1, idx, z) + 1e-12)
    entropy = -(z * z.log()).sum(1).mean()
    assert loss(perfect, target) == pytest.approx(float(entropy), abs=1e-4)  # the minimum: H(z)
    uniform = loss(torch.zeros(1, 313, 4, 4), target)
    assert uniform == pytest.approx(np.log(313), abs=1e-4)
    assert loss(perfect, target) < uniform - 3.0


@pytest.mark.parametrize(("name", "stride"), [("l1", 1), ("mse", 1), ("huber", 1), ("ce", 1), ("ce", 4), ("l1", 2)])
def test_loss_falls_when_optimising_free_predictions(name, stride):
    torch.manual_seed(0)
    loss = create_loss(name, output_stride=stride)
    # Smooth over each stride x stride cell, so a cell's mean ab is every pixel's ab and the fit can be exact.
    target = (torch.rand(2, 2, 8, 8) * 1.2 - 0.6).repeat_interleave(stride, 2).repeat_interleave(stride, 3)
    target = target[..., : 8 * stride - (stride > 1), : 8 * stride - (stride > 1)]  # not a multiple of stride
    pred = torch.zeros(2, loss.out_channels, 8, 8, requires_grad=True)
    opt = torch.optim.Adam([pred], lr=0.1)
    values = []
    for _ in range(20):
        opt.zero_grad()
        value = loss(pred, target)
        value.backward()
        opt.step()
        values.append(value.item())
    assert values[-1] < 0.5 * values[0]
    assert loss.decode(pred.detach()).shape == (2, 2, 8, 8)  # on the head's grid
    decoded = loss.decode_full(pred.detach(), target.shape[-2:])
    assert decoded.shape == target.shape  # at full size, whatever the stride
    # Decoding the fitted head moves ab towards the target (mean ab* error shrinks well below the start).
    start_err = (target * 128).norm(dim=1).mean()
    assert ((decoded - target) * 128).norm(dim=1).mean() < 0.5 * start_err


def test_registry_and_interface():
    assert set(list_losses()) >= {"l1", "mse", "huber", "ce"}
    assert create_loss("ce").out_channels == 313 and create_loss("ce").needs_prior
    # Zhang et al.'s quarter resolution for the classification head; regression at full size.
    assert create_loss("ce").output_stride == 4 and create_loss("ce", output_stride=1).output_stride == 1
    assert {create_loss(n).output_stride for n in ("l1", "mse", "huber")} == {1}
    with pytest.raises(ValueError, match="power of two"):
        create_loss("ce", output_stride=3)
    assert not create_loss("ce", rebalance=False).needs_prior
    for name in ("l1", "mse", "huber"):
        loss = create_loss(name)
        assert loss.out_channels == 2 and not loss.needs_prior
        decoded = loss.decode(torch.tensor([-3.0, 0.25, 1.5]).view(1, 1, 1, 3).expand(1, 2, 1, 3))
        assert decoded[0, 0, 0].tolist() == [-1.0, 0.25, 1.0]  # clamped to [-1, 1], otherwise identity
    assert create_loss("huber", delta=0.3).delta == 0.3
    ce = create_loss("ce", lam=0.3, sigma=4.0, temperature=0.5, k=3)
    assert (ce.lam, ce.sigma, ce.temperature, ce.k) == (0.3, 4.0, 0.5, 3)
    assert ce.encode(torch.zeros(1, 2, 2, 2))[0].shape == (1, 3, 2, 2)
    with pytest.raises(ValueError, match="unknown loss 'nope'"):
        create_loss("nope")
    with pytest.raises(ValueError, match="out_channels"):
        create_loss("ce")(torch.zeros(1, 2, 4, 4), torch.zeros(1, 2, 4, 4))
    with pytest.raises(ValueError, match="stride-4 grid"):  # a full-size head for a quarter-resolution loss
        create_loss("ce")(torch.zeros(1, 313, 8, 8), torch.zeros(1, 2, 8, 8))


def test_prior_and_weights_travel_in_the_state_dict():
    prior = torch.rand(313, generator=torch.Generator().manual_seed(5))
    trained = ClassificationLoss(prior=prior)
    fresh = ClassificationLoss()
    assert torch.equal(fresh.weights, torch.ones(313)) and not fresh.has_prior
    fresh.load_state_dict(trained.state_dict())
    torch.testing.assert_close(fresh.weights, trained.weights)
    assert fresh.has_prior
    assert set(trained.state_dict()) == {"prior", "weights", "prior_set"}  # the lookup tables stay out


def _solid_lab8(a_star: int, b_star: int, n: int = 3, size: int = 8) -> torch.Tensor:
    lab = torch.empty(n, 3, size, size, dtype=torch.uint8)
    lab[:, 0], lab[:, 1], lab[:, 2] = 120, a_star + 128, b_star + 128
    return lab


def test_prior_of_gray_data_peaks_at_the_neutral_bin():
    prior = estimate_ab_prior(list(_solid_lab8(0, 0)))
    assert prior.shape == (313,) and prior.sum() == pytest.approx(1.0, abs=1e-5)
    assert int(prior.argmax()) == bin_index_of(0, 0)
    # σ = 5 spreads e^-2 of the peak to each of the four grid neighbours.
    assert float(prior[bin_index_of(10, 0)] / prior.max()) == pytest.approx(np.exp(-2.0), rel=1e-4)
    # Unsmoothed it is a single spike; a colour counts at its nearest bin (a*=23, b*=-31 -> (20, -30)).
    assert float(estimate_ab_prior([_solid_lab8(0, 0)], sigma=0)[bin_index_of(0, 0)]) == 1.0
    assert int(estimate_ab_prior([_solid_lab8(23, -31)], sigma=0).argmax()) == bin_index_of(20, -30)


def test_prior_of_real_photos_matches_brute_force_counts(real_crops):
    lab8 = rgb_to_lab8(torch.from_numpy(real_crops).permute(0, 3, 1, 2).contiguous())
    prior = estimate_ab_prior(lab8, max_images=10, sigma=0)  # a tensor is iterated as images
    ab_star = lab8[:10, 1:].permute(0, 2, 3, 1).reshape(-1, 2).float() - 128
    _, nearest = _brute_knn(ab_star, 1)
    counts = torch.bincount(nearest[:, 0], minlength=313).float()
    torch.testing.assert_close(prior, counts / counts.sum())
    smoothed = estimate_ab_prior(lab8, max_images=10)
    torch.testing.assert_close(smoothed, smooth_prior(counts, 5.0))


class _CountingDataset(torch.utils.data.Dataset):
    def __init__(self, images: torch.Tensor) -> None:
        self.images, self.calls = images, 0

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> torch.Tensor:
        self.calls += 1
        return self.images[i]


def test_prior_cache_is_created_once_and_reused(tmp_path):
    data = _CountingDataset(torch.cat([_solid_lab8(0, 0, n=2), _solid_lab8(40, 40, n=2)]))
    path = tmp_path / "ab_prior.npy"
    first = cached_prior(data, path)
    assert path.is_file() and data.calls == 4
    np.testing.assert_allclose(np.load(path), first.numpy())
    again = cached_prior(data, path)
    assert data.calls == 4  # nothing re-read
    torch.testing.assert_close(again, first)
    cached_prior(data, path, max_images=2)  # different settings: recomputed on evenly spaced images 0 and 3
    assert data.calls == 6
    assert int(torch.from_numpy(np.load(path)).argmax()) in (bin_index_of(0, 0), bin_index_of(40, 40))


def test_head_grid_is_anchored_at_the_top_left_for_any_size():
    g = torch.Generator().manual_seed(6)
    small = torch.rand(2, 2, 3, 5, generator=g) * 2 - 1
    whole = upsample_from_stride(small, 4, (12, 20))  # an exact multiple: plain bilinear between cell centres
    torch.testing.assert_close(whole, F.interpolate(small, size=(12, 20), mode="bilinear", align_corners=False))
    # A size that is not a multiple is the same picture, cut: cell (i, j) stays over pixels [4i, 4i+4).
    torch.testing.assert_close(upsample_from_stride(small, 4, (10, 17)), whole[..., :10, :17])
    assert head_size(10, 17, 4) == (3, 5) and head_size(12, 20, 4) == (3, 5)
    with pytest.raises(ValueError, match="stride-4 grid of 13x17"):
        upsample_from_stride(small, 4, (13, 17))
    # Pooling: each cell's mean; a field constant per cell comes back exactly.
    blocks = small.repeat_interleave(4, 2).repeat_interleave(4, 3)
    torch.testing.assert_close(pool_to_stride(blocks, 4), small)
    torch.testing.assert_close(pool_to_stride(blocks[..., :10, :17], 4), small)
    assert pool_to_stride(blocks, 1) is blocks and upsample_from_stride(blocks, 1, (12, 20)) is blocks
