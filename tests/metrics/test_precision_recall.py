from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from stochrobust.errors import NonFiniteError, RangeError, ShapeError, StochRobustTypeError
from stochrobust.metrics import manifold_radii, precision_recall, realism_score


# ----------------------------------------------------------------------------- reference
def dense_sq(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """All squared distances, formed directly from the differences (float64)."""
    diff = a[:, None, :].astype(np.float64) - b[None, :, :].astype(np.float64)
    return np.einsum("ijd,ijd->ij", diff, diff)


def brute_radii_sq(x: np.ndarray, k: int) -> np.ndarray:
    d = dense_sq(x, x)
    np.fill_diagonal(d, np.inf)  # exclude the point itself, and only it
    return np.sort(d, axis=1)[:, k - 1]


def brute_pr(real: np.ndarray, fake: np.ndarray, k: int) -> tuple[float, float, np.ndarray]:
    r_sq, f_sq = brute_radii_sq(real, k), brute_radii_sq(fake, k)
    d = dense_sq(fake, real)  # (M, N)
    precision = float((d <= r_sq[None, :]).any(axis=1).mean())
    recall = float((d.T <= f_sq[None, :]).any(axis=1).mean())
    return precision, recall, r_sq


def with_duplicates(n: int, d: int, g: torch.Generator) -> torch.Tensor:
    """Gaussian points where about a third are exact copies of other points."""
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    src = torch.randint(0, n, (n // 3,), generator=g)
    dst = torch.randint(0, n, (n // 3,), generator=g)
    x[dst] = x[src]
    return x


def lattice(n: int, d: int, g: torch.Generator) -> torch.Tensor:
    """Points on a coarse dyadic lattice: many duplicates and many exactly equal distances."""
    return torch.randint(0, 4, (n, d), generator=g).to(torch.float64) * 0.375 + 1.25


# ----------------------------------------------------------------------------- oracles
@pytest.mark.parametrize("k", [1, 3, 5])
@pytest.mark.parametrize("kind", ["duplicates", "lattice", "mixed", "offset"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
def test_equals_dense_brute_force(
    k: int, kind: str, dtype: torch.dtype, gen: torch.Generator
) -> None:
    for _ in range(2):
        if kind == "duplicates":
            real, fake = with_duplicates(150, 4, gen), with_duplicates(110, 4, gen) + 0.3
            fake[:20] = real[:20]  # shared points: distance 0 across the sets
        elif kind == "lattice":
            real, fake = lattice(160, 3, gen), lattice(120, 3, gen)
        elif kind == "offset":  # far from the origin: the fast product loses digits
            real = with_duplicates(150, 4, gen) + 1e5
            fake = torch.cat([real[:30], with_duplicates(100, 4, gen) + 1e5])
        else:  # lattice points plus jittered ones: ties and non-ties together
            real, fake = lattice(140, 3, gen), lattice(130, 3, gen)
            fake[::2] += 0.05 * torch.randn(65, 3, generator=gen, dtype=torch.float64)
        real, fake = real.to(dtype), fake.to(dtype)  # float32: ranking in float32
        p, r = precision_recall(real, fake, k=k, block_size=64)  # several blocks
        bp, br, r_sq = brute_pr(real.numpy(), fake.numpy(), k)
        assert (float(p), float(r)) == (bp, br)
        torch.testing.assert_close(
            manifold_radii(real, k=k, block_size=50),
            torch.from_numpy(np.sqrt(r_sq)).to(dtype),
            rtol=1e-14,
            atol=0.0,
        )


def test_self_exclusion_keeps_duplicates() -> None:
    # Three copies of the origin and one far point: with k = 2 the radius of a copy is the
    # distance to the second *other* copy, 0 — not the far point.
    x = torch.tensor([[0.0, 0.0], [0.0, 0.0], [0.0, 0.0], [3.0, 4.0]])
    assert manifold_radii(x, k=2).tolist() == [0.0, 0.0, 0.0, 5.0]
    assert manifold_radii(x, k=3).tolist() == [5.0, 5.0, 5.0, 5.0]


@pytest.mark.parametrize("block_size", [1, 7, 300])
def test_block_size_does_not_change_the_result(block_size: int, gen: torch.Generator) -> None:
    real, fake = with_duplicates(120, 5, gen), with_duplicates(90, 5, gen) * 1.2
    ref = precision_recall(real, fake, k=3, block_size=10_000)
    got = precision_recall(real, fake, k=3, block_size=block_size)
    assert float(got.precision) == float(ref.precision)
    assert float(got.recall) == float(ref.recall)
    assert torch.equal(
        manifold_radii(real, 3, block_size=block_size), manifold_radii(real, 3, block_size=10_000)
    )


def test_identical_sets_give_one_one(device: torch.device, gen: torch.Generator) -> None:
    x = with_duplicates(200, 8, gen).to(device)
    p, r = precision_recall(x, x.clone(), k=3, block_size=64)
    assert (float(p), float(r)) == (1.0, 1.0)
    assert p.device == x.device and p.dtype == torch.float64 and p.ndim == 0


def test_mode_collapse_high_precision_low_recall(gen: torch.Generator) -> None:
    angle = torch.arange(10) * (2 * math.pi / 10)
    centres = 20.0 * torch.stack([angle.cos(), angle.sin()], dim=1)  # ten separated modes
    real = centres[torch.arange(1000) % 10] + torch.randn(1000, 2, generator=gen)
    fake = centres[0] + torch.randn(1000, 2, generator=gen)  # one mode of ten
    p, r = precision_recall(real, fake, k=3)
    assert float(p) > 0.9 and float(r) < 0.2
    # Swapping the roles swaps the two numbers (not the same values again).
    p2, r2 = precision_recall(fake, real, k=3)
    assert float(p2) < 0.2 and float(r2) > 0.9


def test_unequal_sizes_and_float32_input(gen: torch.Generator) -> None:
    real = torch.randn(70, 3, generator=gen)
    fake = torch.randn(200, 3, generator=gen)
    real_before = real.clone()
    p, r = precision_recall(real, fake, k=4)
    bp, br, _ = brute_pr(real.numpy(), fake.numpy(), 4)
    assert (float(p), float(r)) == (bp, br)
    assert torch.equal(real, real_before)  # inputs untouched
    assert manifold_radii(real, 4).dtype == torch.float32


# ----------------------------------------------------------------------------- peer
def test_precision_agrees_with_piq(gen: torch.Generator) -> None:
    piq = pytest.importorskip("piq")
    for k in (2, 3, 5):
        real = torch.randn(300, 6, generator=gen, dtype=torch.float64)
        fake = 1.3 * torch.randn(250, 6, generator=gen, dtype=torch.float64) + 0.2
        piq_p, _ = piq.PR(nearest_k=k).compute_metric(real, fake)
        ours = float(precision_recall(real, fake, k=k).precision)
        assert float(piq_p) == pytest.approx(ours, abs=1e-6)  # piq returns float32


def test_piq_recall_compares_against_the_wrong_radii() -> None:
    """piq 0.8 tests ``d(real_i, fake_j) ≈ radius(real_i)`` in its recall: a real point at
    exactly its own k-NN radius from a fake point counts as covered, whatever the fake
    point's radius. Our recall follows the definition (and the brute force)."""
    piq = pytest.importorskip("piq")
    if piq.__version__ != "0.8.0":
        pytest.skip("the demonstration targets piq 0.8.0")
    real = torch.tensor([[0.0], [1.0], [5.0], [5.5]], dtype=torch.float64)
    fake = torch.tensor([[1.0], [1.125], [1.25]], dtype=torch.float64)
    # real 0.0 has radius (k=1) 1.0 and lies at distance 1.0 from fake 1.0, whose radius is
    # 0.125: it is not covered. Only real 1.0 (distance 0 to fake 1.0) is.
    _, piq_r = piq.PR(nearest_k=1).compute_metric(real, fake)
    _, r = precision_recall(real, fake, k=1)
    _, br, _ = brute_pr(real.numpy(), fake.numpy(), 1)
    assert float(r) == br == 0.25
    assert float(piq_r) == 0.5


# ----------------------------------------------------------------------------- realism
@pytest.mark.parametrize("keep_fraction", [1.0, 0.5, 0.1])
def test_realism_equals_brute_force(keep_fraction: float, gen: torch.Generator) -> None:
    real = with_duplicates(120, 3, gen)
    fake = 1.5 * torch.randn(80, 3, generator=gen, dtype=torch.float64)
    got = realism_score(real, fake, k=3, block_size=11, keep_fraction=keep_fraction)
    r_sq = brute_radii_sq(real.numpy(), 3)
    keep = np.argsort(r_sq, kind="stable")[: math.ceil(keep_fraction * len(r_sq))]
    d = dense_sq(fake.numpy(), real.numpy()[keep])
    expected = np.sqrt((r_sq[keep][None, :] / d).max(axis=1))
    torch.testing.assert_close(got, torch.from_numpy(expected), rtol=1e-12, atol=0.0)


def test_realism_at_least_one_exactly_inside(gen: torch.Generator) -> None:
    real = torch.randn(200, 4, generator=gen, dtype=torch.float64)
    fake = 1.2 * torch.randn(150, 4, generator=gen, dtype=torch.float64)
    scores = realism_score(real, fake, k=3)
    assert float((scores >= 1).double().mean()) == float(precision_recall(real, fake).precision)
    on_real = realism_score(real, torch.cat([real[:3], fake[:2]]), k=3)
    assert torch.isinf(on_real[:3]).all() and torch.isfinite(on_real[3:]).all()


# ----------------------------------------------------------------------------- bad input
def test_bad_input_raises_typed_errors() -> None:
    x = torch.randn(10, 3)
    with pytest.raises(ShapeError, match="fake: expected feature dimension 3"):
        precision_recall(x, torch.randn(10, 4))
    with pytest.raises(RangeError, match="k: expected an integer < 10"):
        precision_recall(x, torch.randn(20, 3), k=10)
    with pytest.raises(RangeError, match="number of points in fake"):
        precision_recall(torch.randn(20, 3), x, k=10)
    with pytest.raises(RangeError, match="k: expected an integer >= 1"):
        precision_recall(x, x, k=0)
    with pytest.raises(StochRobustTypeError, match="k: expected an integer"):
        precision_recall(x, x, k=2.0)
    with pytest.raises(ShapeError, match="non-empty"):
        precision_recall(torch.empty(0, 3), x)
    with pytest.raises(ShapeError, match="real: expected a 2-D tensor"):
        precision_recall(torch.randn(10, 3, 1), x)
    bad = x.clone()
    bad[2, 1] = math.nan
    with pytest.raises(NonFiniteError, match="fake: expected finite values"):
        precision_recall(x, bad)
    with pytest.raises(StochRobustTypeError, match="floating-point"):
        precision_recall(torch.ones(10, 3, dtype=torch.long), x)
    with pytest.raises(RangeError, match="block_size"):
        manifold_radii(x, 3, block_size=0)
    with pytest.raises(RangeError, match="keep_fraction"):
        realism_score(x, x, keep_fraction=0.0)
    with pytest.raises(RangeError, match="k: expected an integer < 1"):
        manifold_radii(torch.randn(1, 3), k=1)
