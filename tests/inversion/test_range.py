"""project_to_range: the projection back to the range, against least squares and its start."""

from __future__ import annotations

import pytest
import torch

from stochrobust.errors import RangeError, ShapeError
from stochrobust.inversion import project_to_range


def _linear(k: int = 3, p: int = 12) -> torch.nn.Linear:
    lin = torch.nn.Linear(k, p, dtype=torch.float64)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        lin.weight.copy_(torch.randn(p, k, generator=g, dtype=torch.float64))
        lin.bias.copy_(torch.randn(p, generator=g, dtype=torch.float64))
    return lin


def test_linear_layer_residual_is_the_least_squares_residual() -> None:
    lin = _linear()
    target = torch.randn(4, 12, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    w, b = lin.weight.detach(), lin.bias.detach()
    u_star = torch.linalg.lstsq(w, (target - b).T).solution.T
    expected = (u_star @ w.T + b - target).norm(dim=1)  # ‖(I − W W⁺)(t − b)‖
    res = project_to_range(
        lin, target, torch.zeros(4, 3, dtype=torch.float64), radius=1e3, steps=800, lr=0.05
    )
    torch.testing.assert_close(res.residual, expected, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(res.point, lin(res.u).detach())
    assert bool((expected > 0.5).all())  # a generic target is off the 3-dim range


def test_reachable_target_has_zero_residual() -> None:
    lin = _linear()
    u_true = torch.randn(3, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    with torch.no_grad():
        target = lin(u_true)
    res = project_to_range(
        lin, target, torch.zeros(3, 3, dtype=torch.float64), radius=1e3, steps=800, lr=0.05
    )
    assert float(res.residual.max()) < 1e-4
    assert bool((res.start_distance > 1.0).all())


def test_residual_never_exceeds_the_start_and_l1_ball_is_respected() -> None:
    net = torch.nn.Sequential(torch.nn.Linear(6, 10), torch.nn.Tanh(), torch.nn.Linear(10, 8))
    target = torch.randn(5, 8, generator=torch.Generator().manual_seed(3))
    center = torch.randn(5, 6, generator=torch.Generator().manual_seed(4))
    res = project_to_range(net, target, center, radius=0.3, center=center, steps=15, lr=0.5)
    start = (net(center) - target).norm(dim=1).detach()
    torch.testing.assert_close(res.start_distance, start, rtol=1e-5, atol=1e-6)
    assert bool((res.residual <= res.start_distance * (1 + 1e-6)).all())
    assert bool(((res.u - center).abs().sum(1) <= 0.3 * (1 + 1e-5)).all())
    assert res.n_evals == 15 + 2


def test_errors_name_the_argument() -> None:
    lin = torch.nn.Linear(2, 3)
    with pytest.raises(ShapeError, match="^u0: expected"):
        project_to_range(lin, torch.zeros(2, 3), torch.zeros(3, 2), radius=1.0)
    with pytest.raises(ShapeError, match="^center: expected"):
        project_to_range(
            lin, torch.zeros(2, 3), torch.zeros(2, 2), radius=1.0, center=torch.zeros(2, 5)
        )
    with pytest.raises(RangeError, match="^radius: expected"):
        project_to_range(lin, torch.zeros(2, 3), torch.zeros(2, 2), radius=0.0)
