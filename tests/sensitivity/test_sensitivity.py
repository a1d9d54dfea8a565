from __future__ import annotations

import math
from itertools import permutations

import pytest
import torch

from stochrobust import (
    Estimator,
    ModelError,
    NonFiniteError,
    RangeError,
    StochRobustTypeError,
)
from stochrobust.metrics import psnr
from stochrobust.sensitivity import (
    APGD,
    BIM,
    CW,
    FGSM,
    PGD,
    AdamAscent,
    Protocol,
    local_lipschitz,
    sensitivity_at,
    w2_sensitivity_at,
)

F64 = torch.float64


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def linear(A: torch.Tensor):
    return lambda y: y.flatten(1) @ A.T


def gapped_matrix(m: int, n: int, seed: int) -> torch.Tensor:
    """A dense general matrix with singular values 3·0.8^i (spectral gap 0.8)."""
    g = gen(seed)
    U, _ = torch.linalg.qr(torch.randn(m, m, generator=g, dtype=F64))
    V, _ = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=F64))
    k = min(m, n)
    s = 3 * 0.8 ** torch.arange(k, dtype=F64)
    return U[:, :k] @ torch.diag(s) @ V[:, :k].T


def assert_oracle(res, closed_form: torch.Tensor | float) -> None:
    """value >= 99% of the squared closed form, norm >= 99% of it, never above."""
    cf = torch.as_tensor(closed_form, dtype=F64)
    assert bool((res.value >= 0.99 * cf**2).all()), (res.value / cf**2).tolist()
    assert bool((res.root >= 0.99 * cf).all())
    assert bool((res.value <= cf**2 * (1 + 1e-9)).all())


# ---------------------------------------------------------------------------- oracles
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_l2_oracle_general_matrix_default_solver(seed) -> None:
    A = gapped_matrix(12, 9, seed)  # input y is a (1, 3, 3) image
    y = torch.rand(4, 1, 3, 3, generator=gen(seed), dtype=F64)
    eps = torch.tensor([0.1, 0.5, 1.0, 2.0], dtype=F64)
    res = sensitivity_at(linear(A), y, eps, generator=gen(seed))
    assert_oracle(res, eps * torch.linalg.matrix_norm(A, 2))
    assert bool((res.delta.flatten(1).norm(dim=1) <= eps * (1 + 1e-12)).all())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_l1_oracle_rank_one_default_solver(seed) -> None:
    g = gen(seed)
    u, v = torch.randn(7, 1, generator=g, dtype=F64), torch.randn(1, 10, generator=g, dtype=F64)
    y = torch.randn(3, 10, generator=g, dtype=F64)
    res = sensitivity_at(linear(u @ v), y, 0.5, ball="l1", generator=g, data_range=None)
    assert_oracle(res, 0.5 * u.norm() * v.abs().max())


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_l1_oracle_general_matrix_default_solver(seed) -> None:
    g = gen(10 + seed)
    A = torch.randn(4, 6, generator=g, dtype=F64)
    y = torch.randn(2, 6, generator=g, dtype=F64)
    res = sensitivity_at(linear(A), y, 0.7, ball="l1", generator=g, data_range=None)
    assert_oracle(res, 0.7 * A.norm(dim=0).max())


def test_linf_oracle_diagonal_default_solver() -> None:
    d = torch.tensor([0.5, -2.0, 1.5, 0.1, 3.0], dtype=F64)
    y = torch.randn(4, 5, generator=gen(0), dtype=F64)
    res = sensitivity_at(lambda v: v * d, y, 0.3, ball="linf", generator=gen(1), data_range=None)
    assert_oracle(res, 0.3 * d.norm())


@pytest.mark.parametrize("norm", ["l2", "linf", "l1"])
def test_stochastic_linear_oracle_seed_cancels(norm) -> None:
    # L-inf on a general A is a combinatorial (cube-vertex) problem: the closed form is for
    # a diagonal A, ε‖diag(A)‖₂ (SPEC §2).
    A = (
        torch.diag(torch.linspace(-2, 3, 8, dtype=F64))
        if norm == "linf"
        else gapped_matrix(6, 8, 4)
    )
    Bz = torch.randn(A.shape[0], 3, generator=gen(5), dtype=F64)
    est = Estimator(lambda y, z: y @ A.T + z @ Bz.T, seed_shape=(3,))
    y = torch.randn(3, 8, generator=gen(6), dtype=F64)
    res = sensitivity_at(est, y, 0.4, ball=norm, n_seeds=5, generator=gen(7), data_range=None)
    closed = {
        "l2": torch.linalg.matrix_norm(A, 2),
        "l1": A.norm(dim=0).max(),
        "linf": A.diagonal().norm(),
    }[norm]
    assert_oracle(res, 0.4 * closed)
    assert res.n_seeds == 5


def test_value_is_squared_and_norm_is_eq2_for_a_deterministic_model() -> None:
    net = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.Tanh(), torch.nn.Linear(6, 3))
    y = torch.rand(5, 4)
    res = sensitivity_at(net, y, 0.3, solver=AdamAscent(steps=3, lr=0.1), generator=gen())
    with torch.no_grad():
        direct = (net(y + res.delta) - net(y)).norm(dim=1)  # eq. 2 at delta
    torch.testing.assert_close(res.root, direct, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(res.value, direct**2, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------------- eq. 9 / AI-PSNR
def test_psnrs_match_a_per_seed_recomputation() -> None:
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(2, 1, 3, padding=1)
    est = Estimator(lambda y, z: conv(torch.cat([y, z], 1)), seed_shape=(1, 5, 5))
    y = torch.rand(3, 1, 5, 5)
    g = gen(3)
    res = sensitivity_at(est, y, 0.2, n_seeds=4, solver=PGD(steps=3), generator=g)
    seeds = est.sample_seeds(y, 4, generator=gen(3))  # the same first draw as inside
    with torch.no_grad():
        per_seed = torch.stack(
            [psnr(est(y, seeds[:, k]), est(y + res.delta, seeds[:, k])) for k in range(4)], 1
        )
        mse_value = torch.stack(
            [(est(y, seeds[:, k]) - est(y + res.delta, seeds[:, k])).pow(2).flatten(1).sum(1)
             for k in range(4)], 1
        ).mean(1)  # fmt: skip
    torch.testing.assert_close(res.output_psnr, per_seed.mean(1), rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(res.value, mse_value, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(res.input_psnr, psnr(y + res.delta, y))
    assert bool((res.input_psnr >= 10 * torch.log10(torch.tensor(25 / 0.04)) - 1e-4).all())


# ---------------------------------------------------------------------------- eps = 0, fusion
def test_eps_zero_returns_zeros_without_running_the_solver(stateful_net) -> None:
    net = stateful_net()
    y = torch.rand(3, 1, 5, 5)
    res = sensitivity_at(net, y, 0.0, generator=gen())
    assert net.calls == [3]  # the clean pass only
    assert torch.equal(res.value, torch.zeros(3)) and torch.equal(res.delta, torch.zeros_like(y))
    assert bool(torch.isinf(res.output_psnr).all() and torch.isinf(res.input_psnr).all())
    mixed = sensitivity_at(
        net, y, torch.tensor([0.0, 0.5, 0.0]), solver=PGD(steps=2), generator=gen()
    )
    assert torch.equal(mixed.delta[0], torch.zeros_like(y[0])) and float(mixed.value[0]) == 0
    assert float(mixed.value[1]) > 0 and math.isinf(float(mixed.output_psnr[2]))


def test_seeds_are_fused_and_deterministic_models_evaluated_once(stateful_net) -> None:
    det = stateful_net()
    sensitivity_at(det, torch.rand(3, 1, 4, 4), 0.1, n_seeds=7, solver=PGD(steps=4))
    # clean, 4 gradient steps, the final iterate and its mirror
    assert set(det.calls) == {3} and len(det.calls) == 1 + 4 + 2
    sto = stateful_net(stochastic=True)
    est = Estimator(sto, seed_shape=(4, 4, 4))
    res = sensitivity_at(est, torch.rand(3, 1, 4, 4), 0.1, n_seeds=7, solver=AdamAscent())
    assert set(sto.calls) == {21} and len(sto.calls) == 1 + 5 + 1
    assert res.n_seeds == 7


def test_same_generator_same_result_bit_for_bit() -> None:
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(2, 4, 3, padding=1), torch.nn.ReLU(),
                              torch.nn.Conv2d(4, 1, 3, padding=1))  # fmt: skip
    est = Estimator(lambda y, z: net(torch.cat([y, z], 1)), seed_shape=(1, 6, 6))
    y = torch.rand(2, 1, 6, 6)
    a = sensitivity_at(est, y, 0.5, generator=gen(4))
    b = sensitivity_at(est, y, 0.5, generator=gen(4))
    assert torch.equal(a.delta, b.delta) and torch.equal(a.value, b.value)


def test_box_is_respected() -> None:
    A = gapped_matrix(5, 5, 0)
    y = torch.rand(4, 5, generator=gen(1), dtype=F64)
    res = sensitivity_at(linear(A), y, 1.0, box=(0.0, 1.0), generator=gen(2))
    assert bool(((y + res.delta >= 0) & (y + res.delta <= 1)).all())
    assert bool((res.delta.norm(dim=1) <= 1 + 1e-12).all())


# ---------------------------------------------------------------------------- hygiene
@pytest.mark.parametrize("stochastic", [False, True])
@pytest.mark.parametrize(
    "solver",
    [
        PGD(steps=2),
        AdamAscent(steps=2),
        FGSM(),
        BIM(steps=2),
        CW(steps=2),
        APGD(steps=3),
        Protocol("fast"),
    ],
    ids=["pgd", "adam", "fgsm", "bim", "cw", "apgd", "protocol"],
)
def test_model_state_and_input_untouched_for_every_solver(
    solver, stochastic, stateful_net, state
) -> None:
    snap, same = state
    y = torch.rand(2, 1, 4, 4)
    y_copy = y.clone()
    for fail_after in (None, 3):
        net = stateful_net(stochastic, fail_after)
        model = Estimator(net, seed_shape=(4, 4, 4)) if stochastic else net
        before = snap(net)
        if fail_after is None:
            res = sensitivity_at(model, y, 0.3, n_seeds=3, solver=solver, generator=gen())
            assert bool((res.value > 0).all())
        else:
            with pytest.raises(RuntimeError, match="boom"):
                sensitivity_at(model, y, 0.3, n_seeds=3, solver=solver, generator=gen())
        same(before, snap(net))
        assert torch.equal(y, y_copy) and not y.requires_grad


# ---------------------------------------------------------------------------- bad input
def test_bad_input_raises_typed_errors() -> None:
    model = lambda v: 2 * v  # noqa: E731
    y = torch.rand(2, 3)
    with pytest.raises(RangeError, match="eps"):
        sensitivity_at(model, y, -0.1)
    with pytest.raises(RangeError, match="n_seeds"):
        sensitivity_at(model, y, 0.1, n_seeds=0)
    with pytest.raises(NonFiniteError, match="^y:"):
        sensitivity_at(model, torch.tensor([[0.0, float("nan"), 1.0]]), 0.1)
    with pytest.raises(NonFiniteError, match="^model output"):
        sensitivity_at(lambda v: v * float("nan"), y, 0.1)
    with pytest.raises(ModelError, match="batch"):
        sensitivity_at(lambda v: v[:1], y, 0.1)
    with pytest.raises(StochRobustTypeError, match="solver"):
        sensitivity_at(model, y, 0.1, solver="pgd")  # type: ignore[arg-type]
    with pytest.raises(StochRobustTypeError, match="solver"):
        sensitivity_at(model, y, 0.1, ball="linf", solver=CW())


def test_shape_changing_model_is_a_model_error() -> None:
    y = torch.rand(2, 4)
    with pytest.raises(ModelError, match="shape"):
        sensitivity_at(lambda v: v if v.requires_grad is False else v[:, :2], y, 0.1)


@pytest.mark.parametrize(
    "model",
    [lambda v: 2 * v.detach(), lambda v: torch.round(1e-3 * v) + 0 * v],
    ids=["detached", "piecewise-constant"],
)
def test_non_differentiable_models_are_reported(model) -> None:
    with pytest.raises(ModelError, match="differentiable in its input"):
        sensitivity_at(model, torch.rand(3, 4), 0.1, generator=gen())


def test_stochastic_model_ignoring_y_is_reported() -> None:
    est = Estimator(lambda y, z: z, seed_shape=(4,))
    with pytest.raises(ModelError, match="differentiable in its input"):
        sensitivity_at(est, torch.rand(3, 4), 0.1, n_seeds=3, generator=gen())


# ---------------------------------------------------------------------------- eq. 4 (W2)
def test_w2_estimate_is_below_eq6_on_a_nonlinear_stochastic_model() -> None:
    torch.manual_seed(1)
    net = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.Tanh(), torch.nn.Linear(16, 4))
    est = Estimator(lambda y, z: net(torch.cat([y, z], 1)) * (1 + z[:, :1]), seed_shape=(3,))
    y = torch.rand(4, 3, dtype=torch.float32)
    res = w2_sensitivity_at(est, y, 0.5, n_seeds=12, solver=PGD(steps=5), generator=gen(2))
    assert bool((res.value <= res.same_seed_value * (1 + 1e-6) + 1e-7).all())
    assert bool((res.value > 0).all())
    # The eq. 6 figure is the same-seed objective at the W2 maximiser.
    seeds = est.sample_seeds(y, 12, generator=gen(2))
    with torch.no_grad():
        direct = est.forward_seeds(y + res.delta, seeds) - est.forward_seeds(y, seeds)
    torch.testing.assert_close(
        res.same_seed_value, direct.pow(2).sum(-1).mean(-1), rtol=1e-5, atol=1e-7
    )


def test_w2_is_far_below_eq6_when_the_output_law_ignores_y() -> None:
    """G(y, z) = rotation of an isotropic 2-D seed by the angle y: the law is N(0, I)."""

    def rotate(y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        c, s = torch.cos(y), torch.sin(y)
        return torch.cat([c * z[:, :1] - s * z[:, 1:], s * z[:, :1] + c * z[:, 1:]], 1)

    est = Estimator(rotate, seed_shape=(2,))
    y = torch.rand(2, 1, dtype=F64)
    res = w2_sensitivity_at(est, y, 0.5, n_seeds=200, solver=PGD(steps=4), generator=gen(0))
    eq6_closed = 2 * (1 - math.cos(0.5))  # E‖R(0.5)z − z‖² per unit E‖z‖²/2 = 1
    assert bool((res.same_seed_value > 0.5 * 2 * eq6_closed).all())  # eq. 6 sees the rotation
    assert bool((res.value < 0.25 * res.same_seed_value).all())  # eq. 4 estimate does not


@pytest.mark.parametrize("fail_after", [None, 4])
def test_w2_leaves_the_model_state_untouched(fail_after, stateful_net, state) -> None:
    snap, same = state
    net = stateful_net(stochastic=True, fail_after=fail_after)
    before = snap(net)
    est = Estimator(net, seed_shape=(4, 4, 4))
    kw = dict(n_seeds=3, solver=PGD(steps=3), generator=gen())
    if fail_after is None:
        w2_sensitivity_at(est, torch.rand(2, 1, 4, 4), 0.2, **kw)
    else:
        with pytest.raises(RuntimeError, match="boom"):
            w2_sensitivity_at(est, torch.rand(2, 1, 4, 4), 0.2, **kw)
    same(before, snap(net))


def test_w2_independent_seeds_and_deterministic_models() -> None:
    A = gapped_matrix(3, 3, 1)
    det = w2_sensitivity_at(linear(A), torch.rand(2, 3, dtype=F64), 0.2, generator=gen())
    torch.testing.assert_close(det.value, det.same_seed_value)  # Diracs: eq. 4 = eq. 2²
    assert det.n_seeds == 1
    est = Estimator(lambda y, z: y + z, seed_shape=(3,))
    y0 = torch.rand(2, 3, dtype=F64)
    est64 = Estimator(lambda y, z: y + z, seed_shape=(3,))
    ind = w2_sensitivity_at(est64, y0, 0.0, n_seeds=4, same_seeds=False, generator=gen())
    # eps = 0 with independent clouds: the noise floor, not 0. Brute force over the 4! matchings
    # of the clean seeds z and the second draw z' (drawn in that order from the generator).
    g = gen()
    z = torch.randn(8, 3, generator=g, dtype=F64).reshape(2, 4, 3)
    z2 = torch.randn(8, 3, generator=g, dtype=F64).reshape(2, 4, 3)
    floor = [
        min(
            float((z[b] - z2[b, list(perm)]).pow(2).sum(-1).mean())
            for perm in permutations(range(4))
        )
        for b in range(2)
    ]
    assert not ind.same_seeds and bool((ind.value > 0).all())
    torch.testing.assert_close(ind.value, torch.tensor(floor, dtype=F64))
    assert torch.equal(ind.same_seed_value, torch.zeros(2, dtype=F64))
    res = w2_sensitivity_at(
        est, torch.rand(2, 3), 0.1, n_seeds=4, same_seeds=False, solver=PGD(steps=2),
        generator=gen(),
    )  # fmt: skip
    assert bool((res.value > 0).all())


# ---------------------------------------------------------------------------- [O24]
def test_local_lipschitz_lower_bound() -> None:
    A = gapped_matrix(4, 6, 2)
    y = torch.rand(3, 6, dtype=F64)
    lip = local_lipschitz(linear(A), y, 0.1, generator=gen())
    sigma = torch.linalg.matrix_norm(A, 2)
    assert bool((lip <= sigma * (1 + 1e-9)).all() and (lip >= 0.99 * sigma).all())
    with pytest.raises(RangeError, match="eps"):
        local_lipschitz(linear(A), y, 0.0)
