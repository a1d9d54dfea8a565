from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from stochrobust import NonFiniteError, RangeError, ShapeError, StochRobustTypeError
from stochrobust.smoothing import median_aggregate, noise_augment


def test_default_recipe_layout() -> None:
    x = torch.rand(3, 2, 4, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    x0 = x.clone()
    aug = noise_augment(x, generator=torch.Generator().manual_seed(1))
    assert torch.equal(x, x0)
    assert aug.y.shape == (15, 2, 4, 4) and aug.y.dtype == torch.float64
    assert aug.index.tolist() == [0, 1, 2] * 5
    assert aug.sigma.tolist() == [0.03] * 6 + [0.2] * 6 + [0.0] * 3
    # groups: (original, distinct σ) → u·N + b with σ order 0.03, 0.2, 0
    assert aug.group.tolist() == [0, 1, 2, 0, 1, 2, 3, 4, 5, 3, 4, 5, 6, 7, 8]
    assert aug.group_index.tolist() == [0, 1, 2] * 3
    assert aug.group_sigma.tolist() == [0.03] * 3 + [0.2] * 3 + [0.0] * 3
    assert torch.equal(aug.y[12:], x)  # the clean copy is exact
    # the noise is one standard normal draw of shape (S·N, ...), scaled per row
    z = torch.randn((15, 2, 4, 4), generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    expected = x.repeat(5, 1, 1, 1) + aug.sigma.view(-1, 1, 1, 1) * z
    torch.testing.assert_close(aug.y, expected, rtol=0, atol=1e-15)


def test_noise_statistics() -> None:
    x = torch.full((50, 1, 16, 16), 0.5)
    aug = noise_augment(x, (0.03, 0.2), generator=torch.Generator().manual_seed(0))
    for j, s in enumerate((0.03, 0.2)):
        z = (aug.y[j * 50 : (j + 1) * 50] - 0.5) / s
        assert abs(float(z.mean())) < 0.02 and abs(float(z.std()) - 1.0) < 0.02


def test_reproducible_and_differentiable() -> None:
    x = torch.rand(2, 1, 4, 4, requires_grad=True)
    a = noise_augment(x, generator=torch.Generator().manual_seed(3)).y
    b = noise_augment(x, generator=torch.Generator().manual_seed(3)).y
    assert torch.equal(a, b)
    a.sum().backward()
    assert x.grad is not None and torch.equal(x.grad, torch.full_like(x, 5.0))


def brute_force_median(outputs: np.ndarray, index: np.ndarray, groups: int) -> np.ndarray:
    out = []
    for g in range(groups):
        rows = np.sort(outputs[index == g], axis=0)
        out.append(rows[math.ceil(len(rows) / 2) - 1])
    return np.stack(out)


@given(
    sizes=st.lists(st.integers(1, 6), min_size=1, max_size=6),
    seed=st.integers(0, 2**31 - 1),
)
def test_median_aggregate_matches_per_group_loop(sizes: list[int], seed: int) -> None:
    rng = np.random.default_rng(seed)
    index = rng.permutation(np.repeat(np.arange(len(sizes)), sizes))
    outputs = rng.integers(0, 4, size=(len(index), 2, 3)).astype(np.float64)  # many ties
    got = median_aggregate(torch.from_numpy(outputs), torch.from_numpy(index))
    np.testing.assert_array_equal(got.numpy(), brute_force_median(outputs, index, len(sizes)))


def test_median_aggregate_with_the_recipe_and_gradient() -> None:
    x = torch.rand(4, 1, 3, 3, generator=torch.Generator().manual_seed(0))
    aug = noise_augment(x, (0.1, 0.1, 0.1, 0.0), generator=torch.Generator().manual_seed(1))
    out = aug.y.clone().requires_grad_(True)
    per_sigma = median_aggregate(out, aug.group)
    assert per_sigma.shape == (8, 1, 3, 3)
    # the per-σ median of three noisy copies is their middle value; of one clean copy, x
    noisy = aug.y[:12].reshape(3, 4, 1, 3, 3)
    assert torch.equal(per_sigma[:4], noisy.median(dim=0).values)
    assert torch.equal(per_sigma[4:], x)
    per_image = median_aggregate(out, aug.index)  # 4 copies → the 2nd smallest
    assert torch.equal(per_image, aug.y.reshape(4, 4, 1, 3, 3).sort(dim=0).values[1])
    per_sigma.sum().backward()
    assert out.grad is not None
    assert torch.equal(out.grad.sum(dim=0), torch.full((1, 3, 3), 8.0))  # one row per group


def test_median_aggregate_num_groups_and_errors() -> None:
    out = torch.arange(4.0).view(4, 1)
    assert median_aggregate(out, torch.tensor([1, 0, 1, 0]), num_groups=2).tolist() == [
        [1.0],
        [0.0],
    ]
    with pytest.raises(ShapeError, match="group 1"):
        median_aggregate(out, torch.tensor([0, 0, 2, 2]))
    with pytest.raises(RangeError, match="index"):
        median_aggregate(out, torch.tensor([0, 0, 2, 2]), num_groups=2)
    with pytest.raises(RangeError, match="index"):
        median_aggregate(out, torch.tensor([0, -1, 0, 0]))
    with pytest.raises(StochRobustTypeError, match="index"):
        median_aggregate(out, torch.tensor([0.0, 0.0, 1.0, 1.0]))
    with pytest.raises(ShapeError, match="index"):
        median_aggregate(out, torch.tensor([0, 1]))


@pytest.mark.parametrize(
    ("sigmas", "error"),
    [
        ((), StochRobustTypeError),
        ("0.1", StochRobustTypeError),
        (0.1, StochRobustTypeError),
        ((0.1, -0.2), RangeError),
        ((0.1, math.inf), NonFiniteError),
    ],
)
def test_noise_augment_bad_sigmas(sigmas: object, error: type[Exception]) -> None:
    with pytest.raises(error, match="sigmas"):
        noise_augment(torch.zeros(2, 3), sigmas)  # type: ignore[arg-type]


def test_noise_augment_bad_input() -> None:
    with pytest.raises(NonFiniteError, match="x"):
        noise_augment(torch.tensor([[math.nan]]))
    with pytest.raises(ShapeError, match="x"):
        noise_augment(torch.zeros(0, 3))
