"""Joint perceptual index variants ([O24]): exact, sliced and Gaussian on joint samples."""

from __future__ import annotations

import math

import pytest
import torch

from stochrobust import RangeError, ShapeError
from stochrobust.metrics import (
    joint_perceptual_index,
    joint_perceptual_index_gaussian,
    joint_perceptual_index_sliced,
    w2_empirical,
)
from stochrobust.metrics.joint import joint_samples
from stochrobust.toy import disk_posterior, sample_disk, sine_disk


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_joint_samples_concatenate_flattened_parts() -> None:
    x = torch.arange(8.0).reshape(2, 1, 2, 2)
    y = torch.tensor([[10.0], [20.0]])
    u, v = joint_samples(x, y, x + 1)
    assert u.tolist() == [[0, 1, 2, 3, 10], [4, 5, 6, 7, 20]]
    assert v.tolist() == [[1, 2, 3, 4, 10], [5, 6, 7, 8, 20]]
    with pytest.raises(ShapeError, match="y"):
        joint_samples(x, y[:1], x)
    with pytest.raises(ShapeError, match="x_hat"):
        joint_samples(x, y, x[:, :, :1])


def test_exact_index_is_w2_of_the_joint_samples() -> None:
    x, y = sample_disk(300, generator=gen(0))
    xh = sine_disk(y, 8.0)
    u = torch.cat([x, y], dim=1)
    v = torch.cat([xh, y], dim=1)
    assert torch.allclose(joint_perceptual_index(x, y, xh), w2_empirical(u, v))


def disk_sets(n: int) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    x, y = sample_disk(n, generator=gen(1))
    post = disk_posterior(y, torch.rand(n, 1, generator=gen(2)))
    return x, y, {"posterior": post, "erratic": sine_disk(y, 50.0), "robust": sine_disk(y, 2.0)}


def test_three_estimators_rank_the_disk_restorers_alike_and_obey_their_bounds() -> None:
    # posterior sampling (the true joint law) < X̂_50 (erratic) < X̂_2 (robust), for every
    # estimator; SW₂ ≤ W₂ (projections are 1-Lipschitz); Gaussian ≤ sqrt(N/(N-1))·W₂
    # (Gelbrich's bound with the unbiased covariance).
    n = 600
    x, y, sets = disk_sets(n)
    exact = {k: float(joint_perceptual_index(x, y, v)) for k, v in sets.items()}
    sliced = {
        k: float(joint_perceptual_index_sliced(x, y, v, generator=gen(3))) for k, v in sets.items()
    }
    gauss = {k: float(joint_perceptual_index_gaussian(x, y, v)) for k, v in sets.items()}
    for est in (exact, sliced, gauss):
        assert est["posterior"] < est["erratic"] < est["robust"], est
    for k in sets:
        assert sliced[k] <= exact[k] * (1 + 1e-6)
        assert gauss[k] <= math.sqrt(n / (n - 1)) * exact[k] * (1 + 1e-6)


def test_sliced_index_of_a_shift_matches_its_expectation() -> None:
    # v = u + c: every 1-D projection is shifted by θ·c, so SW₂² = mean (θ·c)², whose
    # expectation over the uniform sphere in D dims is ‖c‖²/D.
    x = torch.rand(200, 3, generator=gen(4), dtype=torch.float64)
    y = x[:, :1]
    c = torch.tensor([0.3, -0.4, 1.2], dtype=torch.float64)
    sw2 = joint_perceptual_index_sliced(x, y, x + c, n_projections=8_000, squared=True)
    assert float(sw2) == pytest.approx(float(c.pow(2).sum()) / 4, rel=0.05)


def test_gaussian_index_is_exact_for_a_shift_and_squared_is_its_square() -> None:
    x = torch.randn(400, 4, generator=gen(5), dtype=torch.float64)
    y = x[:, :2]
    c = torch.tensor([1.0, 0.0, 2.0, 2.0], dtype=torch.float64)
    assert float(joint_perceptual_index_gaussian(x, y, x + c)) == pytest.approx(3.0, rel=1e-6)
    sq = joint_perceptual_index_gaussian(x, y, x + c, squared=True)
    assert float(sq) == pytest.approx(9.0, rel=1e-6)


def test_sliced_is_deterministic_differentiable_and_validated() -> None:
    x, y = sample_disk(100, generator=gen(6))
    xh = sine_disk(y, 5.0).requires_grad_(True)
    a = joint_perceptual_index_sliced(x, y, xh, generator=gen(7))
    b = joint_perceptual_index_sliced(x, y, xh, generator=gen(7))
    assert torch.equal(a, b)
    a.backward()
    assert xh.grad is not None and torch.isfinite(xh.grad).all() and xh.grad.abs().sum() > 0
    with pytest.raises(RangeError, match="n_projections"):
        joint_perceptual_index_sliced(x, y, x, n_projections=0)
