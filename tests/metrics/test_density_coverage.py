from __future__ import annotations

import numpy as np
import pytest
import torch

from stochrobust.errors import RangeError, ShapeError
from stochrobust.metrics import (
    PRDCState,
    density_coverage,
    prdc,
    precision_recall,
    sharded_prdc,
)


def dense_sq(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """All squared distances from the differences, float64 (the brute-force reference)."""
    diff = a[:, None, :].astype(np.float64) - b[None, :, :].astype(np.float64)
    return np.einsum("ijd,ijd->ij", diff, diff)


def brute_prdc(real: np.ndarray, fake: np.ndarray, k: int) -> list[float]:
    """Naeem et al. 2020 / Kynkäänniemi et al. 2019 with ties inside, by brute force."""
    rr, ff = dense_sq(real, real), dense_sq(fake, fake)
    np.fill_diagonal(rr, np.inf)
    np.fill_diagonal(ff, np.inf)
    r_rad, f_rad = np.sort(rr, 1)[:, k - 1], np.sort(ff, 1)[:, k - 1]
    d = dense_sq(fake, real)  # (M, N)
    inside = d <= r_rad[None, :]
    precision = inside.any(1).mean()
    recall = (d <= f_rad[:, None]).any(0).mean()
    density = inside.sum(1).mean() / k
    coverage = inside.any(0).mean()
    return [float(precision), float(recall), float(density), float(coverage)]


def clusters(n: int, d: int, offset: float, g: torch.Generator) -> torch.Tensor:
    """Two tight clusters at ``±offset`` (every coordinate) from their centroid, spread 1."""
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    x[: n // 2] += offset
    x[n // 2 :] -= offset
    return x + 5 * offset


@pytest.mark.parametrize("k", [1, 3, 5])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
def test_prdc_equals_brute_force_with_ties(
    k: int, dtype: torch.dtype, gen: torch.Generator
) -> None:
    lattice = torch.randint(0, 4, (150, 3), generator=gen).to(torch.float64) * 0.375
    real = lattice[:90].to(dtype)
    fake = lattice[90:].to(dtype)
    fake[:10] = real[:10]  # shared points at distance 0
    got = [float(v) for v in prdc(real, fake, k=k)]
    assert got == brute_prdc(real.double().numpy(), fake.double().numpy(), k)


def test_float32_far_from_centroid_is_exact(gen: torch.Generator) -> None:
    # Offset / spread 1000 in 64 dims: float32 products round squared distances by ~10,
    # far more than the gaps between neighbours (release 0.1 was wrong on such data
    # exact here); the per-row bound sends those decisions to float64.
    real = clusters(200, 64, 1000.0, gen)
    fake = clusters(200, 64, 1000.0, gen)
    ref = brute_prdc(real.numpy(), fake.numpy(), 3)
    r32, f32 = real.float(), fake.float()
    ref32 = brute_prdc(r32.double().numpy(), f32.double().numpy(), 3)
    got = [float(v) for v in prdc(r32, f32, k=3)]
    assert got == ref32
    p, r = precision_recall(r32, f32, k=3)
    assert [float(p), float(r)] == ref32[:2]
    assert [float(v) for v in prdc(real, fake, k=3)] == ref


def test_float64_extreme_offset_falls_back_to_direct_measurement(gen: torch.Generator) -> None:
    real, fake = clusters(60, 4, 1e9, gen), clusters(50, 4, 1e9, gen)
    got = [float(v) for v in prdc(real, fake, k=2)]
    assert got == brute_prdc(real.numpy(), fake.numpy(), 2)


@pytest.mark.parametrize(("block", "chunk"), [(1, 7), (13, 1), (1024, 16384)])
def test_blocks_and_chunks_do_not_change_the_result(
    block: int, chunk: int, gen: torch.Generator
) -> None:
    real, fake = torch.randn(70, 5, generator=gen), torch.randn(55, 5, generator=gen) + 0.4
    ref = brute_prdc(real.double().numpy(), fake.double().numpy(), 3)
    assert [float(v) for v in prdc(real, fake, 3, block, chunk)] == ref
    assert [float(v) for v in sharded_prdc(real, fake, 3, block, chunk)] == ref


@pytest.mark.parametrize("k", [1, 2, 4])
def test_k_block_size_and_chunk_rows_of_every_entry_point(k: int, gen: torch.Generator) -> None:
    # Non-default k with small blocks and chunks, through the function, the sharded function,
    # the streaming state (fed in uneven pieces) and density/coverage: all the brute force.
    real, fake = torch.randn(61, 4, generator=gen), torch.randn(47, 4, generator=gen) + 0.3
    ref = brute_prdc(real.double().numpy(), fake.double().numpy(), k)
    assert [float(v) for v in prdc(real, fake, k=k, block_size=5, chunk_rows=9)] == ref
    got = sharded_prdc(real, fake, k=k, block_size=5, chunk_rows=9)
    assert [float(v) for v in got] == ref
    state = PRDCState(k=k, block_size=5, chunk_rows=9)
    state.update(real=real[:20], fake=fake[:3])
    state.update(real=real[20:], fake=fake[3:])
    assert [float(v) for v in state.compute()] == ref
    d, c = density_coverage(real, fake, k=k, block_size=5)
    assert [float(d), float(c)] == ref[2:]


def test_agrees_with_prdc_package_without_ties(gen: torch.Generator) -> None:
    peer = pytest.importorskip("prdc")
    real = torch.randn(300, 16, generator=gen, dtype=torch.float64)
    fake = 1.2 * torch.randn(250, 16, generator=gen, dtype=torch.float64) + 0.3
    ref = peer.compute_prdc(real.numpy(), fake.numpy(), nearest_k=5)
    got = prdc(real, fake, k=5)
    for name in ("precision", "recall", "density", "coverage"):
        assert float(getattr(got, name)) == pytest.approx(float(ref[name]), abs=1e-12), name
    d, c = density_coverage(real, fake, k=5)
    assert (float(d), float(c)) == (float(got.density), float(got.coverage))


def test_ties_are_inside_where_prdc_package_is_strict() -> None:
    peer = pytest.importorskip("prdc")
    real = np.array([[0.0], [1.0], [2.0]])
    fake = np.array([[3.0], [10.0], [20.0]])  # 3 lies on the ball of 2 (radius 1, k = 1)
    ours = prdc(torch.from_numpy(real), torch.from_numpy(fake), k=1)
    theirs = peer.compute_prdc(real, fake, nearest_k=1)
    assert float(ours.precision) == pytest.approx(1 / 3) and float(theirs["precision"]) == 0.0
    assert float(ours.coverage) == pytest.approx(1 / 3) and float(theirs["coverage"]) == 0.0


def test_identical_sets(gen: torch.Generator) -> None:
    x = torch.randn(100, 4, generator=gen)
    p, r, d, c = prdc(x, x, k=5)
    assert (float(p), float(r), float(c)) == (1.0, 1.0, 1.0)
    assert float(d) >= 1.0  # every point is in its own ball and in its k neighbours' balls


def test_bad_input() -> None:
    x = torch.zeros(5, 2)
    with pytest.raises(RangeError, match="k: expected"):
        prdc(x, x, k=5)
    with pytest.raises(ShapeError, match="fake: expected feature dimension"):
        prdc(x, torch.zeros(5, 3))
    with pytest.raises(RangeError, match="chunk_rows"):
        prdc(x, x, k=1, chunk_rows=0)
    with pytest.raises(ShapeError, match="real"):
        prdc(torch.zeros(0, 2), x, k=1)
