from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from stochrobust import Estimator, RangeError, ShapeError, StochRobustTypeError
from stochrobust.toy import ToyGenerator, ToyMLP, toy_critic, toy_gan


def linears(m: nn.Module) -> list[nn.Linear]:
    return [x for x in m.modules() if isinstance(x, nn.Linear)]


def test_paper_architecture() -> None:
    # [O23] Table 2: 2→512→512→512→512→1, ReLU after each hidden layer.
    net = ToyMLP(generator=torch.Generator().manual_seed(0))
    lin = linears(net)
    assert [(layer.in_features, layer.out_features) for layer in lin] == [
        (2, 512),
        (512, 512),
        (512, 512),
        (512, 512),
        (512, 1),
    ]
    kinds = [type(m).__name__ for m in net.layers]
    assert kinds == ["Linear", "ReLU"] * 4 + ["Linear"]
    gan = toy_gan(True, generator=torch.Generator().manual_seed(0))
    assert [(layer.in_features, layer.out_features) for layer in linears(gan.critic)] == [
        (layer.in_features, layer.out_features) for layer in lin
    ]


def test_init_bounds_and_reproducibility() -> None:
    a = ToyMLP(width=64, depth=2, generator=torch.Generator().manual_seed(1))
    b = ToyMLP(width=64, depth=2, generator=torch.Generator().manual_seed(1))
    c = ToyMLP(width=64, depth=2, generator=torch.Generator().manual_seed(2))
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)
    assert not all(
        torch.equal(pa, pc) for pa, pc in zip(a.parameters(), c.parameters(), strict=True)
    )
    for layer in linears(a):
        bound = 1 / math.sqrt(layer.in_features)
        assert float(layer.weight.detach().abs().max()) <= bound
        # uniform on [−bound, bound]: the std is bound/sqrt(3)
        assert abs(float(layer.weight.detach().std()) - bound / math.sqrt(3)) < 0.1 * bound


@pytest.mark.parametrize("stochastic", [False, True])
def test_generator_consistent_and_estimator_seed_law(stochastic: bool) -> None:
    gen = torch.Generator().manual_seed(3)
    gan = toy_gan(stochastic, width=32, depth=2, generator=gen)
    assert isinstance(gan.estimator, Estimator)
    assert gan.estimator.is_stochastic is stochastic and gan.estimator.model is gan.net
    y = torch.rand(6, 1, generator=gen) * 2 - 1
    s = gan.estimator.sample(y, 5, generator=gen)
    assert s.shape == (6, 5, 2)
    assert torch.equal(s[..., 0], y.expand(6, 5))  # consistency by construction
    spread = s[..., 1].std(dim=1)
    if stochastic:
        assert (spread > 0).all()
    else:
        assert torch.equal(spread, torch.zeros(6))
        # deterministic = the same network evaluated at z = 0
        torch.testing.assert_close(s[:, 0], gan.net(y, torch.zeros_like(y)))


def test_stochastic_estimator_feeds_uniform_seeds() -> None:
    net = ToyGenerator(True, width=8, depth=1)
    est = net.estimator()
    y = torch.zeros(2, 1)
    seeds = est.sample_seeds(y, 1000, generator=torch.Generator().manual_seed(0))
    assert isinstance(seeds, torch.Tensor) and seeds.shape == (2, 1000, 1)
    assert float(seeds.min()) >= 0 and float(seeds.max()) <= 1
    torch.testing.assert_close(est.forward_seeds(y, seeds)[:, 7], net(y, seeds[:, 7]))


def test_gradients_flow_to_y_and_weights() -> None:
    gan = toy_gan(True, width=16, depth=2, generator=torch.Generator().manual_seed(0))
    y = torch.full((4, 1), 0.999, requires_grad=True)
    z = torch.rand(4, 1, generator=torch.Generator().manual_seed(1))
    out = gan.net(y, z)
    out.sum().backward()
    assert y.grad is not None and torch.isfinite(y.grad).all()
    assert all(p.grad is not None for p in gan.net.parameters())
    x = torch.zeros(3, 2, requires_grad=True)
    gan.critic(x).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


def test_bad_arguments() -> None:
    with pytest.raises(RangeError, match="width"):
        ToyMLP(width=0)
    with pytest.raises(RangeError, match="depth"):
        toy_critic(depth=0)
    with pytest.raises(StochRobustTypeError, match="width"):
        toy_gan(True, width=2.5)  # type: ignore[arg-type]
    with pytest.raises(StochRobustTypeError, match="generator"):
        ToyGenerator(True, generator="x")  # type: ignore[arg-type]
    net = ToyGenerator(True, width=4, depth=1)
    with pytest.raises(ShapeError, match="z"):
        net(torch.zeros(3, 1), torch.zeros(2, 1))
    with pytest.raises(ShapeError, match="y"):
        net(torch.zeros(3, 2))
