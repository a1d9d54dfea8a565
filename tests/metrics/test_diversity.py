from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from stochrobust import Estimator
from stochrobust.errors import ModelError, NonFiniteError, RangeError, ShapeError
from stochrobust.metrics import dataset_per_pixel_std, per_pixel_std


@pytest.mark.parametrize("unbiased", [True, False])
def test_per_pixel_std_equals_numpy(
    unbiased: bool, dtype: torch.dtype, gen: torch.Generator
) -> None:
    s = torch.rand(3, 5, 2, 4, 6, generator=gen, dtype=dtype)
    ref = np.std(s.double().numpy(), axis=1, ddof=1 if unbiased else 0).reshape(3, -1).mean(1)
    got = per_pixel_std(s, unbiased=unbiased)
    assert got.dtype == dtype and got.shape == (3,)
    torch.testing.assert_close(got.double(), torch.from_numpy(ref), rtol=1e-6, atol=1e-7)


def test_per_pixel_std_closed_form() -> None:
    # Two samples ±σ around a base: biased std σ, unbiased std σ·sqrt(2), at every pixel.
    base = torch.rand(2, 1, 3, 4, 4)
    sigma = torch.tensor([0.1, 0.3]).view(2, 1, 1, 1, 1)
    s = torch.cat([base - sigma, base + sigma], dim=1)
    torch.testing.assert_close(per_pixel_std(s, unbiased=False), torch.tensor([0.1, 0.3]))
    torch.testing.assert_close(per_pixel_std(s), torch.tensor([0.1, 0.3]) * math.sqrt(2))
    # Toy-problem layout (B, n, D) and a deterministic estimator (identical samples).
    assert per_pixel_std(torch.ones(4, 7, 2)).tolist() == [0.0] * 4


def test_per_pixel_std_is_differentiable(gen: torch.Generator) -> None:
    s = torch.rand(2, 4, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(per_pixel_std, (s,))


def test_per_pixel_std_bad_input() -> None:
    with pytest.raises(ShapeError, match="n >= 2 samples"):
        per_pixel_std(torch.rand(3, 1, 1, 4, 4))
    with pytest.raises(ShapeError, match="expected a non-empty"):
        per_pixel_std(torch.rand(3, 4))
    with pytest.raises(ShapeError, match="expected a non-empty"):
        per_pixel_std(torch.rand(0, 4, 1, 2, 2))
    bad = torch.rand(2, 3, 1, 2, 2)
    bad[0, 1, 0, 0, 0] = math.nan
    with pytest.raises(NonFiniteError, match="samples: expected finite values"):
        per_pixel_std(bad)


class NoisyNet(nn.Module):
    """``y + σ·z`` after a BatchNorm layer (to check that evaluation leaves it untouched)."""

    def __init__(self, sigma: float) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(1, affine=False, momentum=None)
        self.sigma = sigma

    def forward(self, y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return y + 0 * self.bn(y) + self.sigma * z


def test_dataset_std_matches_the_noise_level(gen: torch.Generator) -> None:
    net = NoisyNet(0.3).train()
    est = Estimator(net, seed_shape=(1, 8, 8))
    ys = torch.rand(10, 1, 8, 8, generator=gen)
    got = dataset_per_pixel_std(est, ys, n_seeds=32, batch_size=4, generator=gen)
    # E[unbiased sample std] = σ·c4(n); c4(32) = 0.99197...
    c4 = math.sqrt(2 / 31) * math.gamma(16) / math.gamma(15.5)
    assert float(got) == pytest.approx(0.3 * c4, rel=0.01)
    assert got.dtype == torch.float64 and got.ndim == 0
    assert net.training and int(net.bn.num_batches_tracked) == 0  # state untouched


def test_dataset_std_equals_per_batch_computation() -> None:
    est = Estimator(lambda y, z: y * z, seed_shape=(2, 3, 3))
    ys = torch.rand(5, 2, 3, 3, generator=torch.Generator().manual_seed(5))
    got = dataset_per_pixel_std(
        est, ys, n_seeds=4, batch_size=2, generator=torch.Generator().manual_seed(7)
    )
    g = torch.Generator().manual_seed(7)
    per_input = torch.cat(
        [per_pixel_std(est.sample(ys[i : i + 2], 4, generator=g)) for i in range(0, 5, 2)]
    )
    assert float(got) == pytest.approx(float(per_input.double().mean()), rel=1e-12)


def test_dataset_std_deterministic_model_and_scalar_outputs() -> None:
    ys = torch.rand(6, 1, 4, 4)
    assert float(dataset_per_pixel_std(nn.Identity(), ys, n_seeds=3)) == 0.0
    est = Estimator(lambda y, z: y.sum(1) + z[:, 0], seed_shape=(1,))  # (B,) outputs
    assert float(dataset_per_pixel_std(est, torch.zeros(3, 2), n_seeds=8)) > 0


def test_dataset_std_bad_input() -> None:
    est = Estimator(lambda y, z: y + z, seed_shape=(3,))
    with pytest.raises(RangeError, match="n_seeds: expected an integer >= 2"):
        dataset_per_pixel_std(est, torch.zeros(2, 3), n_seeds=1)
    with pytest.raises(ShapeError):
        dataset_per_pixel_std(est, torch.zeros(0, 3))
    with pytest.raises(NonFiniteError):
        dataset_per_pixel_std(est, torch.full((2, 3), math.nan))
    with pytest.raises(ModelError, match="finite outputs"):
        dataset_per_pixel_std(Estimator(lambda y, z: y / 0 + z, seed_shape=(3,)), torch.ones(2, 3))
