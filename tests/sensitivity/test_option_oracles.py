"""Oracles for the result-changing options of the sensitivity functions (issue #20, item 1).

Each option is exercised with a non-default value and the result compared with a value
derived independently: a closed form on a linear model, a brute force (the 4! couplings of
two 4-point clouds), or a recomputation from the returned ``delta`` and replayed seeds (the
same generator state gives the same seeds and starts, bit for bit on CPU).
"""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from scipy import stats

from stochrobust import Estimator
from stochrobust.sensitivity import (
    PGD,
    local_lipschitz,
    robustness,
    sensitivity_at,
    w2_sensitivity_at,
)

F64 = torch.float64
BALL_KW = "ball"  # the ball keyword; the lead flips it to "ball" at merge
ORDERS = {"l2": 2.0, "linf": math.inf, "l1": 1.0}


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def gapped(rows: int, cols: int, seed: int = 0) -> torch.Tensor:
    """A matrix with singular values 3, 1.5, 1, ... (spectral gap 2)."""
    g = gen(seed)
    u, _ = torch.linalg.qr(torch.randn(rows, rows, generator=g, dtype=F64))
    v, _ = torch.linalg.qr(torch.randn(cols, cols, generator=g, dtype=F64))
    k = min(rows, cols)
    s = torch.tensor([3.0, 1.5, 1.0, 0.7, 0.4, 0.2, 0.1, 0.05][:k], dtype=F64)
    return u[:, :k] @ torch.diag(s) @ v[:, :k].T


def ball(name: str) -> dict[str, str]:
    return {BALL_KW: name}


# ---------------------------------------------------------------------------- same_seeds
def _w2_brute_force(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Squared empirical W2 between equal-size uniform clouds: min over all permutations."""
    k = a.shape[0]
    costs = [(a - b[list(perm)]).pow(2).sum(-1).mean() for perm in itertools.permutations(range(k))]
    return torch.stack(costs).min()


def test_w2_same_seeds_true_is_the_translation_closed_form() -> None:
    """Same seeds, ``G = A y + B z``: the perturbed cloud is the clean one shifted by ``Aδ``.

    The identity matching is optimal for a translation (the cross term sums to zero over a
    permutation), so ``W₂² = ‖Aδ‖²`` and its maximum is ``ε²σ_max(A)²`` = eq. 6.
    """
    a, bz = gapped(3, 3, 1), torch.randn(3, 2, generator=gen(2), dtype=F64)
    est = Estimator(lambda y, z: y @ a.T + z @ bz.T, seed_shape=(2,))
    y = torch.rand(3, 3, generator=gen(3), dtype=F64)
    res = w2_sensitivity_at(
        est, y, 0.3, n_seeds=4, solver=PGD(), same_seeds=True, generator=gen(4), **ball("l2")
    )
    closed = (0.3 * 3.0) ** 2
    torch.testing.assert_close(res.value, torch.full((3,), closed, dtype=F64), rtol=1e-6, atol=0)
    torch.testing.assert_close(res.value, res.same_seed_value, rtol=1e-9, atol=0)
    assert res.same_seeds


def test_w2_same_seeds_false_uses_fresh_seeds_for_the_perturbed_cloud() -> None:
    """Independent clouds: the value is the brute-force W₂² against replayed fresh seeds."""
    a = 0.1 * gapped(2, 2, 5)
    est = Estimator(lambda y, z: y @ a.T + z, seed_shape=(2,))
    y = torch.rand(3, 2, generator=gen(6), dtype=F64)
    kw = dict(n_seeds=4, solver=PGD(steps=3), **ball("l2"))
    res = w2_sensitivity_at(est, y, 0.2, same_seeds=False, generator=gen(7), **kw)
    assert not res.same_seeds
    g = gen(7)  # replay: seeds z (clean cloud), then the fresh seeds z'
    z = est.sample_seeds(y, 4, generator=g)
    z2 = est.sample_seeds(y, 4, generator=g)
    assert isinstance(z, torch.Tensor) and isinstance(z2, torch.Tensor)
    clean = est.forward_seeds(y, z)
    moved_fresh = est.forward_seeds(y + res.delta, z2)
    moved_same = est.forward_seeds(y + res.delta, z)
    for b in range(3):
        expected = _w2_brute_force(clean[b], moved_fresh[b])
        torch.testing.assert_close(res.value[b], expected, rtol=1e-9, atol=1e-12)
        eq6 = (moved_same[b] - clean[b]).pow(2).sum(-1).mean()
        torch.testing.assert_close(res.same_seed_value[b], eq6, rtol=1e-9, atol=1e-12)
    # Independent clouds of N(0, I) points carry a noise floor far above ‖Aδ‖² ≤ 0.0036.
    assert bool((res.value > 10 * res.same_seed_value).all())


# ---------------------------------------------------------------------------- data_range
def test_sensitivity_psnrs_use_data_range() -> None:
    """AI-PSNR ``10·log10(R² / mean(δ²))`` and eq. 9 with ``R = data_range = 255``."""
    a = gapped(4, 4, 2)
    y = torch.rand(3, 4, generator=gen(1), dtype=F64)
    res = sensitivity_at(
        lambda v: v @ a.T, y, 0.5, solver=PGD(), data_range=255.0, generator=gen(2), **ball("l2")
    )
    mse_in = res.delta.pow(2).mean(1)
    torch.testing.assert_close(res.input_psnr, 10 * torch.log10(255.0**2 / mse_in))
    mse_out = (res.delta @ a.T).pow(2).mean(1)
    torch.testing.assert_close(res.output_psnr, 10 * torch.log10(255.0**2 / mse_out))
    # ‖δ‖ = ε on the L2 sphere: AI-PSNR = 20·log10(255·√d / ε) in closed form.
    closed = 20 * math.log10(255.0 * 2.0 / 0.5)
    torch.testing.assert_close(res.input_psnr, torch.full((3,), closed, dtype=F64))


# ---------------------------------------------------------------------------- box
@pytest.mark.parametrize(
    "name",
    [
        pytest.param(
            "l2",
            marks=pytest.mark.xfail(
                strict=True,
                reason="known gap: PGD's L2 step then projection then clipping (not the "
                "Euclidean projection onto ball ∩ box) has fixed points short of the box "
                "corner, 0.65-0.99 of the optimum here; more steps do not help",
            ),
        ),
        "linf",
    ],
)
def test_binding_box_caps_each_coordinate(name) -> None:
    """``y = 0.5``, box ``[0, 1]``: the box leaves ``|δᵢ| ≤ 0.5``; the radius does not bind.

    Diagonal ``A``: the maximum is the box corner, ``0.25·Σ aᵢ²`` (not ``ε²·…``).
    """
    d = torch.tensor([1.0, -2.0, 0.5, 3.0], dtype=F64)
    y = torch.full((4, 4), 0.5, dtype=F64)
    eps = 0.8 if name == "linf" else 10.0
    res = sensitivity_at(
        lambda v: v * d, y, eps, solver=PGD(), box=(0.0, 1.0), generator=gen(), **ball(name)
    )
    torch.testing.assert_close(
        res.value, torch.full((4,), 0.25 * float(d.pow(2).sum()), dtype=F64), rtol=1e-9, atol=0
    )
    assert bool(((y + res.delta) >= 0).all() and ((y + res.delta) <= 1).all())


def test_box_reaches_robustness_and_w2() -> None:
    d = torch.tensor([2.0, 1.0], dtype=F64)
    y = torch.full((3, 2), 0.5, dtype=F64)
    kw = dict(solver=PGD(), box=(0.25, 0.75), generator=gen(), **ball("linf"))
    corner = 0.25**2 * float(d.pow(2).sum())
    rep = robustness(lambda v: v * d, y, 0.6, progress=False, **kw)
    assert math.isclose(rep.r_tilde, corner, rel_tol=1e-9)
    w2 = w2_sensitivity_at(lambda v: v * d, y, 0.6, **kw)
    torch.testing.assert_close(w2.value, torch.full((3,), corner, dtype=F64))


# ---------------------------------------------------------------------------- per-sample eps
@pytest.mark.parametrize("name", ["l2", "linf", "l1"])
def test_per_sample_eps_scales_each_row(name) -> None:
    """Rank one ``u vᵀ``: ``√value = ε_b‖u‖·(‖v‖₂, ‖v‖₁, max|vᵢ|)`` row by row."""
    u = torch.tensor([1.0, -2.0, 0.5], dtype=F64)
    v = torch.tensor([0.5, -1.0, 2.0, 0.25], dtype=F64)
    m = torch.outer(u, v)
    eps = torch.tensor([0.0, 0.1, 0.5, 2.0], dtype=F64)
    y = torch.rand(4, 4, generator=gen(3), dtype=F64)
    res = sensitivity_at(lambda t: t @ m.T, y, eps, solver=PGD(), generator=gen(), **ball(name))
    factor = {"l2": v.norm(), "linf": v.abs().sum(), "l1": v.abs().max()}[name]
    torch.testing.assert_close(res.norm, eps * u.norm() * factor, rtol=1e-9, atol=0)
    assert bool((res.delta.norm(p=ORDERS[name], dim=1) <= eps * (1 + 1e-12)).all())
    torch.testing.assert_close(res.eps, eps)


def test_per_sample_eps_in_w2_and_local_lipschitz() -> None:
    a = gapped(3, 3, 4)
    y = torch.rand(3, 3, generator=gen(5), dtype=F64)
    eps = torch.tensor([0.05, 0.2, 1.0], dtype=F64)
    w2 = w2_sensitivity_at(lambda t: t @ a.T, y, eps, solver=PGD(), generator=gen(), **ball("l2"))
    torch.testing.assert_close(w2.value, (3.0 * eps) ** 2, rtol=1e-6, atol=0)
    lip = local_lipschitz(lambda t: t @ a.T, y, eps, solver=PGD(), generator=gen(), **ball("l2"))
    torch.testing.assert_close(lip, torch.full((3,), 3.0, dtype=F64), rtol=1e-6, atol=0)


# ---------------------------------------------------------------------------- n_seeds
def test_n_seeds_is_the_number_of_seeds_averaged() -> None:
    """``G = y·(1 + z)`` (scalar z): eq. 6 at δ is ``δ²·mean_k (1 + z_k)²`` over K seeds."""
    est = Estimator(lambda y, z: y * (1 + z), seed_shape=(1,))
    y = torch.rand(2, 1, generator=gen(1), dtype=F64)
    res = sensitivity_at(est, y, 0.3, n_seeds=7, solver=PGD(), generator=gen(2), **ball("l2"))
    z = est.sample_seeds(y, 7, generator=gen(2))
    assert isinstance(z, torch.Tensor) and z.shape == (2, 7, 1)
    expected = 0.09 * (1 + z).pow(2).mean(dim=(1, 2))
    torch.testing.assert_close(res.value, expected, rtol=1e-9, atol=0)
    assert res.n_seeds == 7
    # Eq. 9 is the mean over the seeds of the per-seed PSNR (here they all differ).
    per_seed = 10 * torch.log10(1.0 / (res.delta.unsqueeze(1) * (1 + z)).pow(2).mean(-1))
    torch.testing.assert_close(res.output_psnr, per_seed.mean(1), rtol=1e-9, atol=0)
    assert bool((per_seed.amax(1) - per_seed.amin(1) > 1.0).all())


def test_regularizer_loss_is_eq7_with_the_mean_over_seeds() -> None:
    """``L_R`` of a stochastic estimator is the batch mean of eq. 6 (a mean over K seeds)
    at the attack's δ: the same as sensitivity_at's value for the same generator state."""
    from stochrobust.sensitivity import RobustnessRegularizer

    w = torch.nn.Linear(3, 3).double()
    est = Estimator(lambda y, z: torch.tanh(w(y)) * (1 + z), seed_shape=(3,))
    y = torch.rand(4, 3, generator=gen(1), dtype=F64)
    reg = RobustnessRegularizer(0.2, n_seeds=5, solver=PGD(steps=4), reduction="sum").eval()
    loss = reg(est, y, gen(2))
    res = sensitivity_at(est, y, 0.2, n_seeds=5, solver=PGD(steps=4), generator=gen(2))
    torch.testing.assert_close(loss.detach(), res.value.mean(), rtol=1e-10, atol=0)
    mean = RobustnessRegularizer(0.2, n_seeds=5, solver=PGD(steps=4)).eval()(est, y, gen(2))
    torch.testing.assert_close(mean.detach(), res.value.mean() / 3, rtol=1e-10, atol=0)


# ---------------------------------------------------------------------------- robustness
def test_robustness_options_batch_size_confidence_and_n_seeds() -> None:
    """Seven rows in batches of 3 (3 model calls per step); CI is Student-t on the values."""
    a = gapped(3, 3, 6)
    calls: list[int] = []

    def model(t: torch.Tensor) -> torch.Tensor:
        calls.append(t.shape[0])
        return t @ a.T

    data = torch.rand(7, 3, generator=gen(1), dtype=F64)
    rep = robustness(
        model, data, 0.4, batch_size=3, confidence=0.8, n_seeds=3, solver=PGD(),
        generator=gen(2), progress=False, **ball("l2"),
    )  # fmt: skip
    assert set(calls) == {3, 1} and calls.count(3) == 2 * calls.count(1)  # batches 3, 3, 1
    torch.testing.assert_close(rep.values, torch.full((7,), (0.4 * 3.0) ** 2, dtype=F64))
    v = rep.values.double()
    half = stats.t.ppf(0.9, 6) * float(v.std()) / math.sqrt(7)
    assert math.isclose(rep.ci[0], float(v.mean()) - half, rel_tol=1e-9, abs_tol=1e-12)
    assert math.isclose(rep.ci[1], float(v.mean()) + half, rel_tol=1e-9, abs_tol=1e-12)
    assert rep.confidence == 0.8 and rep.n_seeds == 1  # deterministic: one seed


# ---------------------------------------------------------------------------- local_lipschitz
def _nonlinear(seed: int) -> tuple[torch.nn.Module, float]:
    """``tanh(W y + b)``: globally Lipschitz with constant at most ``σ_max(W)``."""
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.Tanh()).double()
    with torch.no_grad():
        net[0].weight.copy_(gapped(4, 5, seed))
    return net, float(torch.linalg.matrix_norm(net[0].weight.detach(), 2))


@pytest.mark.parametrize("name", ["l2", "linf", "l1"])
@pytest.mark.parametrize("eps", [0.05, 0.8])
def test_local_lipschitz_is_the_ratio_at_the_returned_delta(name, eps) -> None:
    """Ratio ``‖G(y+δ) − G(y)‖₂ / ‖δ‖₂`` recomputed at the δ that sensitivity_at returns
    for the same generator state; a valid lower bound (``≤ σ_max(W)``) on every ball."""
    net, lip_max = _nonlinear(1)
    y = torch.rand(4, 5, generator=gen(2), dtype=F64)
    kw = dict(solver=PGD(steps=8), box=None, **ball(name))
    lip = local_lipschitz(net, y, eps, generator=gen(3), **kw)
    res = sensitivity_at(net, y, eps, generator=gen(3), **kw)
    with torch.no_grad():
        ratio = (net(y + res.delta) - net(y)).norm(dim=1) / res.delta.norm(dim=1)
    torch.testing.assert_close(lip, ratio, rtol=1e-9, atol=0)
    assert bool((lip <= lip_max * (1 + 1e-9)).all())
    assert bool((lip > 0.1 * lip_max).all())


def test_local_lipschitz_divides_by_the_l2_norm_of_delta_on_the_cube() -> None:
    """Diagonal ``A`` on the L∞ ball: δ is a corner, ``‖δ‖₂ = ε√d``, ratio ``‖a‖₂/√d``.

    Dividing by ``ε`` instead would report ``‖a‖₂ = 3.67 > Lip = max|aᵢ| = 3``: not a lower
    bound.
    """
    d = torch.tensor([1.0, -2.0, 0.5, 3.0], dtype=F64)
    y = torch.rand(3, 4, generator=gen(1), dtype=F64)
    lip = local_lipschitz(lambda v: v * d, y, 0.1, solver=PGD(), generator=gen(), **ball("linf"))
    torch.testing.assert_close(lip, torch.full((3,), float(d.norm()) / 2.0, dtype=F64))
    assert bool((lip <= 3.0).all())


def test_local_lipschitz_of_a_stochastic_model_is_the_rms_over_replayed_seeds() -> None:
    w = gapped(3, 3, 7)
    est = Estimator(lambda y, z: torch.tanh(y @ w.T) * (1 + 0.5 * z), seed_shape=(3,))
    y = torch.rand(2, 3, generator=gen(1), dtype=F64)
    kw = dict(n_seeds=5, solver=PGD(steps=5), box=(0.0, 1.0), **ball("l2"))
    lip = local_lipschitz(est, y, 0.2, generator=gen(4), **kw)
    res = sensitivity_at(est, y, 0.2, generator=gen(4), **kw)
    z = est.sample_seeds(y, 5, generator=gen(4))
    with torch.no_grad():
        diff = est.forward_seeds(y + res.delta, z) - est.forward_seeds(y, z)
    rms = diff.pow(2).sum(-1).mean(-1).sqrt()
    torch.testing.assert_close(lip, rms / res.delta.norm(dim=1), rtol=1e-9, atol=0)
    assert bool(((y + res.delta) >= 0).all() and ((y + res.delta) <= 1).all())
