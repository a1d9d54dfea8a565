"""Oracles for result-changing options not covered elsewhere (issue #20, item 1).

Regulariser ball/box/preset radius, noise-augmentation levels, biased/unbiased diversity,
colorization weights, the unchecked (``check=False``) fast paths and the UNet estimator's
``eval_mode``; each value is derived independently (closed form, replayed noise, or the
checked path).
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from stochrobust import Estimator
from stochrobust.consistency import (
    AvgPoolDownsample,
    BlurDownsample,
    Colorization,
    Inpainting,
    project,
)
from stochrobust.metrics import dataset_per_pixel_std, per_pixel_std
from stochrobust.nets import UNet
from stochrobust.sensitivity import (
    PGD,
    RobustnessRegularizer,
    project_ball,
    project_l1,
    project_l2,
    project_linf,
)
from stochrobust.smoothing import noise_augment

F64 = torch.float64
BALL_KW = "ball"  # the ball keyword; the lead flips it to "ball" at merge


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------------------- regulariser
def test_regularizer_ball_box_and_generator() -> None:
    """Diagonal linear model: L∞ loss ``ε²‖a‖²``; with a binding box ``[0, 1]`` around
    ``y = 0.5`` the corner ``0.25·‖a‖²``; the same generator gives the same loss."""
    a = torch.tensor([1.0, -2.0, 3.0], dtype=F64)
    model = nn.Linear(3, 3, bias=False).double()
    with torch.no_grad():
        model.weight.copy_(torch.diag(a))
    y = torch.full((4, 3), 0.5, dtype=F64)
    reg = RobustnessRegularizer(0.3, solver=PGD(), reduction="sum", **{BALL_KW: "linf"}).eval()
    loss = reg(model, y, gen(1))
    assert math.isclose(float(loss.detach()), 0.09 * float(a.pow(2).sum()), rel_tol=1e-9)
    assert torch.equal(loss, reg(model, y, gen(1)))
    boxed = RobustnessRegularizer(0.8, solver=PGD(), box=(0.0, 1.0), **{BALL_KW: "linf"})
    # the default reduction "mean" divides eq. 6 by the 3 output values
    assert math.isclose(
        float(boxed.eval()(model, y, gen(1)).detach()), 0.25 * 14.0 / 3, rel_tol=1e-9
    )


def test_regularizer_paper_toy_radius() -> None:
    """The toy preset's ``eps`` is the radius: for ``G = 2y`` eq. 7 is ``4ε²`` at the
    optimum, and 4 Adam steps of 1e-4 from a random start reach at most that."""
    model = nn.Linear(2, 2, bias=False).double()
    with torch.no_grad():
        model.weight.copy_(2 * torch.eye(2, dtype=F64))
    y = torch.rand(8, 2, generator=gen(2), dtype=F64)
    for eps in (1e-3, 1e-2):
        reg = RobustnessRegularizer.paper_toy(eps).eval()
        assert reg.eps == eps
        loss = float(reg(model, y, gen(3)).detach())
        assert 0.25 * 4 * eps**2 < loss <= 4 * eps**2 * (1 + 1e-9)


# ---------------------------------------------------------------------------- augmentation
def test_noise_augment_levels_are_the_sigmas() -> None:
    """Copy ``s`` of the batch is ``x + σ_s·g`` with ``g`` the documented one draw
    ``randn((S·n, ...))``; a level ``0`` is the clean batch exactly."""
    x = torch.rand(3, 2, 4, generator=gen(4), dtype=F64)
    aug = noise_augment(x, sigmas=(0.5, 0.0, 0.1), generator=gen(5))
    noise = torch.randn((9, 2, 4), generator=gen(5), dtype=F64)
    torch.testing.assert_close(aug.y[:3], x + 0.5 * noise[:3], rtol=1e-12, atol=1e-12)
    assert torch.equal(aug.y[3:6], x)
    torch.testing.assert_close(aug.y[6:], x + 0.1 * noise[6:], rtol=1e-12, atol=1e-12)
    assert aug.sigma.tolist() == [0.5] * 3 + [0.0] * 3 + [0.1] * 3


# ---------------------------------------------------------------------------- diversity
def test_dataset_std_unbiased_flag_is_bessels_factor() -> None:
    """Every pixel's unbiased std is ``sqrt(n/(n−1))`` times its biased std, so the
    dataset means are in that ratio; the biased one equals the per-batch recomputation."""
    est = Estimator(lambda y, z: torch.tanh(y) + 0.3 * z * y, seed_shape=(1, 3, 3))
    ys = torch.rand(5, 1, 3, 3, generator=gen(6), dtype=F64)
    kw = dict(n_seeds=4, batch_size=2)
    biased = dataset_per_pixel_std(est, ys, unbiased=False, generator=gen(7), **kw)
    unbiased = dataset_per_pixel_std(est, ys, unbiased=True, generator=gen(7), **kw)
    assert math.isclose(float(unbiased / biased), math.sqrt(4 / 3), rel_tol=1e-12)
    g = gen(7)
    parts = [per_pixel_std(est.sample(ys[s : s + 2], 4, generator=g), unbiased=False)
             for s in range(0, 5, 2)]  # fmt: skip
    torch.testing.assert_close(biased, torch.cat(parts).mean(), rtol=1e-12, atol=0)


# ---------------------------------------------------------------------------- consistency
def test_colorization_weights_define_the_operator() -> None:
    w = torch.tensor([0.2, 0.3, 0.5], dtype=F64)
    op = Colorization(weights=w)
    x = torch.rand(2, 3, 4, 4, generator=gen(8), dtype=F64)
    y = (x * w.reshape(1, 3, 1, 1)).sum(1, keepdim=True)
    torch.testing.assert_close(op.A(x), y, rtol=1e-12, atol=1e-12)
    # Pseudo-inverse of the row vector wᵀ: w / ‖w‖²; the projection is consistent.
    torch.testing.assert_close(op.A_pinv(y), y * (w / w.pow(2).sum()).reshape(1, 3, 1, 1))
    torch.testing.assert_close(op.A(project(torch.rand_like(x), y, op)), y)


@pytest.mark.parametrize(
    "op",
    [
        AvgPoolDownsample(2),
        Inpainting(torch.rand(1, 1, 4, 4, generator=gen(9)) > 0.5),
        BlurDownsample(torch.tensor([[1.0, 2.0], [3.0, 1.0]]), 2),
        Colorization(),
    ],
    ids=["avgpool", "inpainting", "blur", "colorization"],
)
def test_unchecked_operator_paths_equal_the_checked_ones(op) -> None:
    x = torch.rand(2, 3, 4, 4, generator=gen(10), dtype=F64)
    y = op.A(x)
    for name, arg in (("A", x), ("A_adjoint", y), ("A_pinv", y)):
        method = getattr(op, name)
        assert torch.equal(method(arg, check=False), method(arg, check=True)), name
    assert torch.equal(op.project(x, y, check=False), op.project(x, y, check=True))
    assert torch.equal(project(x, y, op, check=False), project(x, y, op))


def test_unchecked_ball_projections_equal_the_checked_ones() -> None:
    d = torch.randn(5, 7, generator=gen(11), dtype=F64)
    eps = torch.tensor([0.0, 0.1, 1.0, 3.0, 10.0], dtype=F64)
    for fn in (project_l1, project_l2, project_linf):
        assert torch.equal(fn(d, eps, check=False), fn(d, eps, check=True)), fn.__name__
    for name in ("l1", "l2", "linf"):
        assert torch.equal(project_ball(d, eps, name, check=False), project_ball(d, eps, name))


# ---------------------------------------------------------------------------- nets
def test_unet_estimator_eval_mode_false_uses_batch_statistics() -> None:
    """``eval_mode=False`` evaluates in the caller's (training) mode: BatchNorm normalises
    with the batch's statistics, so a sample differs from the eval-mode one; the running
    statistics are not updated either way."""
    torch.manual_seed(0)
    net = UNet(in_channels=1, out_channels=1, s=2, depth=1).double().train()
    y = torch.rand(4, 1, 4, 4, generator=gen(12), dtype=F64)
    train_est, eval_est = net.estimator(eval_mode=False), net.estimator(eval_mode=True)
    z = train_est.sample_seeds(y, 2, generator=gen(13))
    with torch.no_grad():
        got = train_est.forward_seeds(y, z)
        ref = net(y.repeat_interleave(2, 0), tuple(t.flatten(0, 1) for t in z))
        evaluated = eval_est.forward_seeds(y, z)
    torch.testing.assert_close(got.flatten(0, 1), ref, rtol=1e-12, atol=1e-12)
    assert float((got - evaluated).abs().max()) > 1e-3
    assert net.training


# ---------------------------------------------------------------------------- budgets
def test_budget_data_range_scales_the_radius() -> None:
    """``ε = sqrt(numel)·R·10^(−T/20)``: ×4 SR input, 34 dB, ``R = 255`` (8-bit images)."""
    from stochrobust.sensitivity import eps_for_psnr, psnr_for_eps

    expected = math.sqrt(3 * 16 * 16) * 255.0 * 10 ** (-34 / 20)
    assert math.isclose(eps_for_psnr((3, 16, 16), 34.0, data_range=255.0), expected)
    assert math.isclose(psnr_for_eps((3, 16, 16), expected, data_range=255.0), 34.0)
    assert math.isclose(
        psnr_for_eps((3, 16, 16), expected, data_range=1.0), 34 - 20 * math.log10(255)
    )


# ---------------------------------------------------------------------------- more options
def test_consistent_passes_the_seed_and_projects_the_output() -> None:
    """``Consistent(G, A)(y, z) = P_y(G(A⁺-shaped y, z))`` with nearest upsampling."""
    from stochrobust.consistency import Consistent

    op = AvgPoolDownsample(2)
    y = torch.rand(2, 1, 3, 3, generator=gen(14), dtype=F64)
    z = torch.rand(2, 1, 6, 6, generator=gen(15), dtype=F64)
    out = Consistent(lambda u, s: torch.tanh(u) + s, op, upsample="nearest")(y, z)
    up = y.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)
    expected = torch.tanh(up) + z
    expected = expected + (y - op.A(expected)).repeat_interleave(2, 2).repeat_interleave(2, 3)
    torch.testing.assert_close(out, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("tol", [1e-3, 1e-11])
def test_partial_circulant_tol_bounds_the_consistency_residual(tol) -> None:
    """The pseudo-inverse solve stops at relative residual ``tol``: ``A P(x) ≈ y`` to it."""
    from stochrobust.consistency import PartialCirculant

    op = PartialCirculant((1, 8, 8), 40, generator=gen(16), tol=tol)
    x = torch.rand(3, 1, 8, 8, generator=gen(17), dtype=F64)
    y = op.A(torch.rand(3, 1, 8, 8, generator=gen(18), dtype=F64))
    residual = (op.A(op.project(x, y)) - y).flatten(1).norm(dim=1) / y.flatten(1).norm(dim=1)
    assert bool((residual <= 10 * tol).all()), residual.tolist()


def test_joint_perceptual_index_squared_is_the_square() -> None:
    from stochrobust.metrics import joint_perceptual_index

    x = torch.rand(5, 1, 2, 2, generator=gen(19), dtype=F64)
    x_hat = torch.rand(5, 1, 2, 2, generator=gen(20), dtype=F64)
    y = x.mean(dim=(2, 3))
    plain = joint_perceptual_index(x, y, x_hat)
    torch.testing.assert_close(joint_perceptual_index(x, y, x_hat, squared=True), plain**2)
    assert float(plain) > 0


def test_is_consistent_counts_the_threshold_itself_as_consistent() -> None:
    """``PSNR(A x̂, y) ≥ psnr_db``: a residual of exactly 2⁻⁵ with ``data_range = 10·2⁻⁵``
    gives exactly 20 dB (all numbers binary-exact), which passes at 20 dB, fails above."""
    from stochrobust.consistency import consistency_psnr, is_consistent

    op = AvgPoolDownsample(2)
    x_hat = torch.zeros(1, 1, 2, 2, dtype=F64)
    y = torch.full((1, 1, 1, 1), 2.0**-5, dtype=F64)
    assert float(consistency_psnr(x_hat, y, op, data_range=10 * 2.0**-5)) == 20.0
    assert is_consistent(x_hat, y, op, psnr_db=20.0, data_range=10 * 2.0**-5).tolist() == [True]
    assert is_consistent(x_hat, y, op, psnr_db=20.001, data_range=10 * 2.0**-5).tolist() == [False]


def test_clip_box_uses_the_given_box() -> None:
    """``y + clip_box(δ, y, box)`` is ``clamp(y + δ, lo, hi)`` for a box other than [0, 1]."""
    from stochrobust.sensitivity import clip_box

    y = torch.rand(4, 5, generator=gen(21), dtype=F64) - 0.5  # inside [-1, 0.5]
    delta = 2 * torch.randn(4, 5, generator=gen(22), dtype=F64)
    out = clip_box(delta, y, box=(-1.0, 0.5))
    torch.testing.assert_close(y + out, (y + delta).clamp(-1.0, 0.5), rtol=0, atol=1e-15)


def test_blur_eigenvalues_in_float32_match_float64() -> None:
    """``dtype`` selects the precision of the same eigenvalues (checked in float64 against
    the dense ``A Aᵀ`` in tests/consistency/test_blur.py)."""
    op = BlurDownsample(torch.tensor([[1.0, 2.0, 1.0], [0.5, 3.0, 0.5], [1.0, 0.0, 1.0]]), 2)
    d32 = op.eigenvalues(8, 6, dtype=torch.float32)
    d64 = op.eigenvalues(8, 6, dtype=torch.float64)
    assert d32.dtype == torch.float32 and d64.dtype == torch.float64
    torch.testing.assert_close(d32.double(), d64, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------------- measurement PSNR
def test_measurement_psnr_data_range_closed_form() -> None:
    """``10·log10(R²/MSE(Ax, y))``; for inpainting the MSE runs over the observed pixels."""
    x = torch.rand(2, 1, 4, 4, generator=gen(11), dtype=F64)
    y = torch.rand(2, 1, 2, 2, generator=gen(12), dtype=F64)
    mean = x.reshape(2, 1, 2, 2, 2, 2).mean(dim=(3, 5))  # 2×2 block means
    mse = (mean - y).pow(2).flatten(1).mean(1)
    got = AvgPoolDownsample(2).measurement_psnr(x, y, data_range=2.0)
    torch.testing.assert_close(got, 10 * torch.log10(4.0 / mse))
    mask = torch.zeros(4, 4, dtype=torch.bool)
    mask[:, :3] = True  # 12 of 16 pixels observed
    target = torch.rand(2, 1, 4, 4, generator=gen(13), dtype=F64)
    mse_obs = (x - target)[..., :3].pow(2).flatten(1).mean(1)
    got = Inpainting(mask).measurement_psnr(x, target, data_range=3.0)
    torch.testing.assert_close(got, 10 * torch.log10(9.0 / mse_obs))


# ---------------------------------------------------------------------------- the guard
def test_estimator_guarded_freeze_and_eval_mode() -> None:
    """Inside the guard: ``freeze`` clears ``requires_grad``; ``eval_mode=False`` keeps train
    mode, so BatchNorm normalises by the batch statistics (closed form) instead of its
    fresh running statistics (mean 0, variance 1); everything is restored on exit."""
    bn = nn.BatchNorm1d(2, affine=False).train()
    lin = nn.Linear(2, 2).train()
    est = Estimator(lambda t: bn(lin(t)))
    y = torch.tensor([[1.0, 2.0], [3.0, -1.0], [0.0, 0.5]])
    with torch.no_grad():
        h = lin(y)
    batch = (h - h.mean(0)) / torch.sqrt(h.var(0, unbiased=False) + bn.eps)
    running = h / math.sqrt(1.0 + bn.eps)
    with est.guarded("test", freeze=True):
        assert not any(p.requires_grad for p in lin.parameters())
        torch.testing.assert_close(est.model(y), running)
    with est.guarded("test"):
        assert all(p.requires_grad for p in lin.parameters())
    with est.guarded("test", eval_mode=False):
        assert bn.training
        torch.testing.assert_close(est.model(y), batch)
    assert bn.training and lin.training and all(p.requires_grad for p in lin.parameters())
