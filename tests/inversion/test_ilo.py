"""ilo: stage bookkeeping, monotonicity, residuals, gradients, operators, validation."""

from __future__ import annotations

import pytest
import torch

from stochrobust.consistency import AvgPoolDownsample, BlurDownsample
from stochrobust.errors import RangeError, StochRobustTypeError
from stochrobust.inversion import LayeredGenerator, ilo

from .conftest import operators

FAST = {"csgm_steps": 20, "steps_per_layer": 10, "project_back_steps": 5}


@pytest.mark.parametrize("name", ["inpainting", "sr4", "circulant", "blur"])
def test_every_operator_improves_on_its_csgm_stage(net: LayeredGenerator, name: str) -> None:
    kernel = torch.tensor([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]) / 16
    op = operators()[name] if name != "blur" else BlurDownsample(kernel, 2)
    x = torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    res = ilo(
        net.layers,
        op,
        op.A(x),
        latent_shape=(4,),
        n_seeds=2,
        generator=torch.Generator().manual_seed(2),
        **FAST,
    )
    assert res.x_hat.shape == (2, 2, 1, 8, 8)
    # Each split starts at the previous best point, so the error never goes up (exactly).
    assert bool((res.loss <= res.csgm_loss).all())
    assert bool((res.loss < res.csgm_loss).any())
    for stage in res.stages:
        assert bool((stage.residual <= stage.deviation * (1 + 1e-5) + 1e-7).all())


def test_stages_radii_and_evaluation_count(net: LayeredGenerator) -> None:
    res = ilo(
        net.layers,
        AvgPoolDownsample(2),
        torch.rand(1, 1, 4, 4),
        latent_shape=(4,),
        radii=0.5,
        rounds=3,
        **FAST,
    )
    assert [s.split for s in res.stages] == [1, 2]
    assert [s.radius for s in res.stages] == [0.5, 1.0]
    assert res.latent.shape == (1, 1, 32) and res.z.shape == (1, 1, 4)
    per_split = 1 + 3 * (10 + 5 + 3)
    assert [s.n_evals for s in res.stages] == [per_split, per_split]
    assert res.n_evals == 20 + 2 + 2 * per_split + 1
    assert res.stages[0].residual.shape == (3, 1, 1)


def test_extended_range_ball_is_respected(net: LayeredGenerator) -> None:
    # One split at layer 1: the result's intermediate code lies within r of G_1's range,
    # i.e. within r (L1) of G_1(u) for the u the project-back keeps; check against the
    # centre the search used: G_1 of the CSGM latent (one round, so it is that centre).
    y = torch.rand(3, 1, 2, 2, generator=torch.Generator().manual_seed(0))
    res = ilo(
        net.layers,
        AvgPoolDownsample(4),
        y,
        latent_shape=(4,),
        splits=[1],
        radii=[0.7],
        rounds=1,
        generator=torch.Generator().manual_seed(1),
        **FAST,
    )
    with torch.no_grad():
        center = net.layers[0](res.z[:, 0])
    l1 = (res.latent[:, 0] - center).abs().sum(1)
    assert bool((l1 <= 0.7 * (1 + 1e-5)).all())
    assert bool((l1 > 0.1).all())  # the search did leave the range


def test_unrolled_ilo_is_differentiable_in_y() -> None:
    g = torch.Generator().manual_seed(0)
    net = LayeredGenerator(2, (4,), (1, 2, 2), generator=g).double()
    z0 = torch.randn(1, 1, 2, generator=g, dtype=torch.float64)

    def x_of_y(y: torch.Tensor) -> torch.Tensor:
        return ilo(
            net.layers,
            AvgPoolDownsample(1),
            y,
            z0=z0,
            csgm_steps=3,
            steps_per_layer=3,
            project_back_steps=2,
            rounds=1,
            radii=0.2,
        ).x_hat

    y = torch.rand(1, 1, 2, 2, generator=g, dtype=torch.float64).requires_grad_()
    assert torch.autograd.gradcheck(x_of_y, (y,), eps=1e-6, atol=1e-5)


def test_reproducible_and_model_unchanged(net: LayeredGenerator) -> None:
    net.train()
    y = torch.rand(2, 1, 4, 4)
    runs = [
        ilo(
            net.layers,
            AvgPoolDownsample(2),
            y,
            latent_shape=(4,),
            n_seeds=2,
            noise_std=0.05,
            generator=torch.Generator().manual_seed(3),
            **FAST,
        )
        for _ in range(2)
    ]
    assert torch.equal(runs[0].x_hat, runs[1].x_hat)
    assert net.training
    assert all(p.requires_grad and p.grad is None for p in net.parameters())


@pytest.mark.parametrize(
    ("kwargs", "error", "name"),
    [
        ({"splits": [0]}, RangeError, "splits"),
        ({"splits": [2, 1]}, RangeError, "splits"),
        ({"splits": 1}, StochRobustTypeError, "splits"),
        ({"radii": [1.0]}, RangeError, "radii"),
        ({"radii": -1.0}, RangeError, "radii"),
        ({"rounds": 0}, RangeError, "rounds"),
        ({"steps_per_layer": -1}, RangeError, "steps_per_layer"),
        ({"project_back_steps": 1.5}, StochRobustTypeError, "project_back_steps"),
    ],
)
def test_bad_arguments_name_the_argument(
    net: LayeredGenerator, kwargs: dict[str, object], error: type[Exception], name: str
) -> None:
    with pytest.raises(error, match=f"^{name}: expected"):
        ilo(net.layers, AvgPoolDownsample(2), torch.zeros(1, 1, 4, 4), latent_shape=(4,), **kwargs)  # type: ignore[arg-type]


def test_layers_must_be_a_sequence_of_at_least_two(net: LayeredGenerator) -> None:
    with pytest.raises(StochRobustTypeError, match="^layers: expected"):
        ilo(net, AvgPoolDownsample(2), torch.zeros(1, 1, 4, 4), latent_shape=(4,))  # type: ignore[arg-type]
    with pytest.raises(RangeError, match="^layers: expected"):
        ilo(net.layers[:1], AvgPoolDownsample(2), torch.zeros(1, 1, 4, 4), latent_shape=(4,))
