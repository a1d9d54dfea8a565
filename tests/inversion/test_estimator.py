"""InversionEstimator: seeds are initial latents; the library's measurements apply unchanged."""

from __future__ import annotations

import pytest
import torch

from stochrobust.consistency import AvgPoolDownsample
from stochrobust.errors import RangeError, StochRobustTypeError
from stochrobust.inversion import InversionEstimator, LayeredGenerator, csgm, ilo
from stochrobust.metrics import per_pixel_std
from stochrobust.sensitivity import PGD, sensitivity_at

OPTIONS = {"csgm_steps": 10, "steps_per_layer": 5, "project_back_steps": 3, "rounds": 1}


def test_seeds_are_the_initial_latents_of_one_batched_inversion(net: LayeredGenerator) -> None:
    op = AvgPoolDownsample(2)
    est = InversionEstimator(net, op, options=OPTIONS)
    assert est.is_stochastic and est.latent_shape == (4,)
    y = torch.rand(2, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    seeds = est.sample_seeds(y, 3, generator=torch.Generator().manual_seed(1))
    out = est.forward_seeds(y, seeds)
    direct = ilo(net.layers, op, y, z0=seeds, **OPTIONS).x_hat
    assert out.shape == (2, 3, 1, 8, 8)
    torch.testing.assert_close(out, direct)
    assert float(per_pixel_std(out).min()) > 1e-3  # different starts, different outputs


def test_csgm_method_and_deterministic_variant(net: LayeredGenerator) -> None:
    op = AvgPoolDownsample(2)
    y = torch.rand(2, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    est = InversionEstimator(net, op, method="csgm", deterministic=True, options={"steps": 10})
    assert not est.is_stochastic
    out = est.sample(y, 3)
    torch.testing.assert_close(
        out[:, 0], csgm(net, op, y, z0=torch.zeros(2, 1, 4), steps=10).x_hat[:, 0]
    )
    assert float(per_pixel_std(out).max()) == 0.0
    plain = torch.nn.Sequential(*net.layers)  # csgm takes any network z ↦ x
    est2 = InversionEstimator(plain, op, method="csgm", latent_shape=(4,), options={"steps": 3})
    assert est2.sample(y, 2).shape == (2, 2, 1, 8, 8)


def test_attacks_get_gradients_and_find_a_positive_sensitivity(net: LayeredGenerator) -> None:
    op = AvgPoolDownsample(2)
    est = InversionEstimator(net, op, options=OPTIONS)
    y = torch.rand(2, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    seeds = est.sample_seeds(y, 2, generator=torch.Generator().manual_seed(1))
    delta = torch.zeros_like(y).requires_grad_()
    (g,) = torch.autograd.grad(est.forward_seeds(y + delta, seeds).sum(), delta)
    assert float(g.abs().sum()) > 0  # the unrolled optimisation passes gradients to y
    res = sensitivity_at(
        est, y, 0.1, n_seeds=2, solver=PGD(steps=3), generator=torch.Generator().manual_seed(2)
    )
    assert bool((res.value > 0).all())
    assert bool((res.delta.flatten(1).norm(dim=1) <= 0.1 * (1 + 1e-5)).all())
    assert all(p.grad is None and p.requires_grad for p in net.parameters())


def test_bad_construction_names_the_argument(net: LayeredGenerator) -> None:
    op = AvgPoolDownsample(2)
    with pytest.raises(RangeError, match="^method: expected"):
        InversionEstimator(net, op, method="pgd")
    with pytest.raises(StochRobustTypeError, match="^options: expected"):
        InversionEstimator(net, op, options={"step": 3})
    with pytest.raises(StochRobustTypeError, match="^options: expected"):
        InversionEstimator(net, op, options={"z0": torch.zeros(1)})
    with pytest.raises(StochRobustTypeError, match="^op: expected"):
        InversionEstimator(net, "A")  # type: ignore[arg-type]
    with pytest.raises(StochRobustTypeError, match="^layers_or_net: expected"):
        InversionEstimator(torch.nn.Identity(), op, latent_shape=(4,))
    with pytest.raises(StochRobustTypeError, match="^latent_shape: expected"):
        InversionEstimator(list(net.layers), op)


def test_median_smoothing_of_the_deterministic_inversion(net: LayeredGenerator) -> None:
    from stochrobust.smoothing import MedianSmoothing

    op = AvgPoolDownsample(2)
    est = InversionEstimator(net, op, method="csgm", deterministic=True, options={"steps": 5})
    y = torch.rand(2, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    smooth = MedianSmoothing(est, 0.05, n_samples=5)
    out = smooth(y, generator=torch.Generator().manual_seed(1))
    # The median of 5 outputs is one of them, pixel by pixel: compare with the same draws.
    noise = 0.05 * torch.randn((10, 1, 4, 4), generator=torch.Generator().manual_seed(1))
    outs = est(y.repeat_interleave(5, 0) + noise).reshape(2, 5, 1, 8, 8)
    assert out.shape == (2, 1, 8, 8)
    assert bool(((outs - out.unsqueeze(1)).abs().amin(dim=1) < 1e-6).all())
