"""csgm: closed-form least squares for a linear generator, the ball, best iterate, hygiene."""

from __future__ import annotations

import pytest
import torch

from stochrobust.consistency import AvgPoolDownsample, Inpainting
from stochrobust.errors import NonFiniteError, RangeError, ShapeError, StochRobustTypeError
from stochrobust.inversion import LayeredGenerator, csgm


def _linear_net(k: int = 3, dtype: torch.dtype = torch.float64) -> torch.nn.Module:
    g = torch.Generator().manual_seed(1)
    lin = torch.nn.Linear(k, 16, dtype=dtype)
    with torch.no_grad():
        lin.weight.copy_(torch.randn(16, k, generator=g, dtype=dtype))
        lin.bias.copy_(torch.randn(16, generator=g, dtype=dtype))
    return torch.nn.Sequential(lin, torch.nn.Unflatten(1, (1, 4, 4)))


def test_linear_generator_reaches_the_least_squares_optimum() -> None:
    # G(z) = W z + b, A = inpainting: min ‖A(W z + b) − y‖² is a least-squares problem.
    net = _linear_net()
    mask = torch.rand(4, 4, generator=torch.Generator().manual_seed(2)) > 0.4
    op = Inpainting(mask)
    y = op.A(
        torch.rand(2, 1, 4, 4, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    )
    lin = net[0]
    keep = mask.flatten()
    a = lin.weight.detach()[keep]  # rows of the observed pixels
    rhs = y.flatten(1)[:, keep] - lin.bias.detach()[keep]
    z_star = torch.linalg.lstsq(a, rhs.T).solution.T
    optimum = (a @ z_star.T - rhs.T).pow(2).sum(0)
    res = csgm(
        net,
        op,
        y,
        latent_shape=(3,),
        steps=600,
        lr=0.05,
        radius=100.0,
        generator=torch.Generator().manual_seed(4),
    )
    assert res.loss.shape == (2, 1)
    torch.testing.assert_close(res.loss[:, 0], optimum, atol=1e-6, rtol=1e-4)
    torch.testing.assert_close(res.z[:, 0], z_star, atol=1e-3, rtol=1e-3)


def test_solution_stays_in_the_ball_and_lies_on_its_boundary_when_the_target_is_outside() -> None:
    net = _linear_net()
    op = AvgPoolDownsample(1)
    z_far = torch.full((1, 3), 10.0, dtype=torch.float64)
    with torch.no_grad():
        y = net(z_far)
    res = csgm(
        net,
        op,
        y,
        latent_shape=(3,),
        n_seeds=4,
        steps=300,
        lr=0.1,
        radius=2.0,
        generator=torch.Generator().manual_seed(0),
    )
    norms = res.z.flatten(2).norm(dim=2)
    assert bool((norms <= 2.0 + 1e-9).all())
    assert bool((norms > 2.0 - 1e-3).all())  # the unconstrained optimum is at ‖z‖ = 17


def test_best_iterate_never_worse_than_the_start(net: LayeredGenerator) -> None:
    op = AvgPoolDownsample(2)
    y = torch.rand(3, 1, 4, 4, generator=torch.Generator().manual_seed(1))
    z0 = torch.randn(3, 2, 4, generator=torch.Generator().manual_seed(2))
    res = csgm(net, op, y, z0=z0, steps=7, lr=2.0)  # a huge lr: iterates may get worse
    with torch.no_grad():
        start = (op.A(net(z0.reshape(6, 4))) - y.repeat_interleave(2, 0)).flatten(1).pow(2).sum(1)
    assert bool((res.loss.reshape(-1) <= start + 1e-6).all())
    assert res.n_evals == 7 + 2


def test_zero_steps_returns_the_projected_start(net: LayeredGenerator) -> None:
    z0 = torch.full((1, 1, 4), 3.0)  # norm 6 > radius 1
    res = csgm(net, AvgPoolDownsample(2), torch.zeros(1, 1, 4, 4), z0=z0, steps=0, radius=1.0)
    torch.testing.assert_close(res.z, z0 / 6.0)


def test_user_loss_term_alone_drives_the_reconstruction(net: LayeredGenerator) -> None:
    op = Inpainting(torch.zeros(8, 8, dtype=torch.bool))  # no measurement at all
    with torch.no_grad():
        target = net(torch.randn(1, 4, generator=torch.Generator().manual_seed(9)))

    def to_target(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return (x - target).flatten(1).pow(2).sum(1)

    res = csgm(
        net,
        op,
        torch.zeros(1, 1, 8, 8),
        steps=300,
        lr=0.05,
        loss=to_target,
        generator=torch.Generator().manual_seed(1),
    )
    assert float((res.x_hat[0, 0] - target[0]).abs().max()) < 0.02


def test_same_generator_same_bits_and_sna_noise_changes_the_path(net: LayeredGenerator) -> None:
    op = AvgPoolDownsample(2)
    y = torch.rand(2, 1, 4, 4, generator=torch.Generator().manual_seed(1))
    runs = [
        csgm(
            net, op, y, n_seeds=3, steps=20, noise_std=s, generator=torch.Generator().manual_seed(7)
        )
        for s in (0.0, 0.0, 0.1, 0.1)
    ]
    assert torch.equal(runs[0].x_hat, runs[1].x_hat)
    assert torch.equal(runs[2].x_hat, runs[3].x_hat)
    assert not torch.equal(runs[0].x_hat, runs[2].x_hat)


def test_model_and_inputs_are_left_unchanged() -> None:
    net = torch.nn.Sequential(
        torch.nn.Linear(4, 16), torch.nn.BatchNorm1d(16), torch.nn.Unflatten(1, (1, 4, 4))
    ).train()
    net[0].weight.requires_grad_(False)
    state = {k: v.clone() for k, v in net.state_dict().items()}
    y = torch.rand(2, 1, 2, 2)
    z0 = torch.randn(2, 2, 4)
    y_copy, z_copy = y.clone(), z0.clone()
    csgm(net, AvgPoolDownsample(2), y, z0=z0, steps=5)
    assert net.training and net[1].training
    assert not net[0].weight.requires_grad and net[0].bias.requires_grad
    assert all(p.grad is None for p in net.parameters())
    for key, value in net.state_dict().items():
        assert torch.equal(value, state[key]), key
    assert torch.equal(y, y_copy) and torch.equal(z0, z_copy)


def test_unrolled_descent_is_differentiable_in_y() -> None:
    net = _linear_net(k=2)
    net = torch.nn.Sequential(net, torch.nn.Tanh())
    op = AvgPoolDownsample(2)
    z0 = torch.randn(1, 2, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)

    def x_of_y(y: torch.Tensor) -> torch.Tensor:
        return csgm(net, op, y, z0=z0, steps=4, lr=0.05).x_hat

    y = torch.rand(1, 1, 2, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    assert torch.autograd.gradcheck(x_of_y, (y.requires_grad_(),), eps=1e-6, atol=1e-5)
    with torch.no_grad():
        assert not x_of_y(y).requires_grad


@pytest.mark.parametrize(
    ("kwargs", "error", "name"),
    [
        ({"steps": -1}, RangeError, "steps"),
        ({"lr": 0.0}, RangeError, "lr"),
        ({"radius": -1.0}, RangeError, "radius"),
        ({"noise_std": -0.1}, RangeError, "noise_std"),
        ({"loss": 3}, StochRobustTypeError, "loss"),
        ({"generator": 1}, StochRobustTypeError, "generator"),
        ({"z0": torch.zeros(2, 4)}, ShapeError, "z0"),
        ({"z0": torch.full((1, 1, 4), float("nan"))}, NonFiniteError, "z0"),
        ({"n_seeds": 0}, RangeError, "n_seeds"),
    ],
)
def test_bad_arguments_name_the_argument(
    net: LayeredGenerator, kwargs: dict[str, object], error: type[Exception], name: str
) -> None:
    with pytest.raises(error, match=f"^{name}: expected"):
        csgm(net, AvgPoolDownsample(2), torch.zeros(1, 1, 4, 4), **kwargs)  # type: ignore[arg-type]


def test_bad_operator_measurements_and_missing_latent_shape(net: LayeredGenerator) -> None:
    with pytest.raises(StochRobustTypeError, match="^op: expected"):
        csgm(net, "A", torch.zeros(1, 1, 4, 4))  # type: ignore[arg-type]
    with pytest.raises(ShapeError, match="^y: expected"):
        csgm(net, AvgPoolDownsample(2), torch.zeros(1, 4, 4))
    with pytest.raises(StochRobustTypeError, match="^latent_shape: expected"):
        csgm(torch.nn.Identity(), AvgPoolDownsample(2), torch.zeros(1, 1, 4, 4))
    with pytest.raises(StochRobustTypeError, match="^net: expected"):
        csgm(3, AvgPoolDownsample(2), torch.zeros(1, 1, 4, 4))  # type: ignore[arg-type]
