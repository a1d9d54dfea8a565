from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from stochrobust._checks import (
    NonFiniteError,
    RangeError,
    ShapeError,
    StochRobustError,
    StochRobustTypeError,
    check_eps,
    check_features,
    check_image,
    check_int,
    check_number,
    check_probability,
    frozen,
)


def test_errors_are_builtin_subclasses() -> None:
    assert issubclass(ShapeError, ValueError) and issubclass(ShapeError, StochRobustError)
    assert issubclass(StochRobustTypeError, TypeError)


def test_frozen_restores_everything_on_exception() -> None:
    net = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2), nn.Dropout()).train()
    net[2].eval()
    net[0].bias.requires_grad_(False)
    with pytest.raises(KeyError), frozen(net):
        assert not any(m.training for m in net.modules())
        assert not any(p.requires_grad for p in net.parameters())
        raise KeyError("x")
    assert [m.training for m in net.modules()] == [True, True, True, False]
    assert net[0].weight.requires_grad and not net[0].bias.requires_grad


def test_frozen_handles_bound_methods_and_plain_callables() -> None:
    net = nn.Linear(2, 2).train()
    with frozen(net.forward):
        assert not net.training
    assert net.training
    with frozen(lambda x: x):
        pass


def test_frozen_can_keep_mode_or_parameters() -> None:
    net = nn.Linear(2, 2).train()
    with frozen(net, eval_mode=False):
        assert net.training and not net.weight.requires_grad
    with frozen(net, freeze_parameters=False):
        assert not net.training and net.weight.requires_grad


def test_messages_name_argument_expectation_and_value() -> None:
    with pytest.raises(
        ShapeError, match=r"x: expected a 4-D tensor \(N, C, H, W\), got shape \(2, 3\)"
    ):
        check_image(torch.zeros(2, 3), "x")
    with pytest.raises(NonFiniteError, match="x: expected finite values, got 0 NaN and 1 Inf"):
        check_image(torch.tensor([math.inf]).reshape(1, 1, 1, 1), "x")
    with pytest.raises(ShapeError, match="feats"):
        check_features(torch.zeros(0, 3), "feats")
    with pytest.raises(RangeError, match=r"sigma: expected a number in \(0, inf\), got 0"):
        check_number(0.0, "sigma", low=0.0, low_inclusive=False)
    with pytest.raises(RangeError, match=r"alpha: expected a number in \(0, 1\), got 1"):
        check_probability(1.0, "alpha")
    with pytest.raises(StochRobustTypeError, match="k: expected an integer, got bool"):
        check_int(True, "k")
    with pytest.raises(StochRobustTypeError, match="eps: expected a real number"):
        check_eps("a", 2)  # type: ignore[arg-type]
    assert check_eps(torch.tensor([1, 2]), 2).tolist() == [1, 2]
    assert check_number(torch.tensor(0.5), "p") == 0.5


def test_frozen_sees_modules_captured_by_closures_and_partials() -> None:
    import functools

    net = nn.Linear(2, 2).train()
    other = nn.BatchNorm1d(2).train()

    def inner(y: torch.Tensor) -> torch.Tensor:
        return other(net(y))

    def outer(y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return inner(y + z)

    for fn in (outer, lambda y: net(y), functools.partial(torch.add, net)):
        with frozen(fn):
            assert not net.training
        assert net.training
    with frozen(outer):
        assert not other.training and not net.weight.requires_grad
    assert other.training and net.weight.requires_grad
