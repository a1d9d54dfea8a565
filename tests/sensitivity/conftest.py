"""Shared models and the model-state snapshot used by the sensitivity tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import nn


class StatefulNet(nn.Module):
    """Conv + BatchNorm + Dropout + tanh, optionally stochastic, counting and failing.

    ``fail_after``: raise ``RuntimeError`` on that call (1-based); ``calls`` counts the rows
    of every call. One parameter is frozen by the caller's choice, to check that
    ``requires_grad`` flags are restored individually.
    """

    def __init__(self, stochastic: bool = False, fail_after: int | None = None) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.drop = nn.Dropout(0.3)
        self.out = nn.Conv2d(4, 1, 3, padding=1)
        self.out.bias.requires_grad_(False)
        self.stochastic = stochastic
        self.fail_after = fail_after
        self.calls: list[int] = []

    def forward(self, y: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        self.calls.append(y.shape[0])
        if self.fail_after is not None and len(self.calls) >= self.fail_after:
            raise RuntimeError("boom")
        h = torch.tanh(self.drop(self.bn(self.conv(y))))
        if z is not None:
            h = h * (1 + 0.5 * z)
        return self.out(h)


def snapshot(model: nn.Module) -> dict[str, Any]:
    """Everything an attack must leave unchanged."""
    return {
        "modes": [m.training for m in model.modules()],
        "req": [p.requires_grad for p in model.parameters()],
        "grads": [None if p.grad is None else p.grad.clone() for p in model.parameters()],
        "params": [p.detach().clone() for p in model.parameters()],
        "buffers": [b.clone() for b in model.buffers()],
    }


def assert_same_state(before: dict[str, Any], after: dict[str, Any]) -> None:
    assert before["modes"] == after["modes"]
    assert before["req"] == after["req"]
    for a, b in zip(before["grads"], after["grads"], strict=True):
        assert (a is None and b is None) or (a is not None and b is not None and torch.equal(a, b))
    for key in ("params", "buffers"):
        for a, b in zip(before[key], after[key], strict=True):
            assert torch.equal(a, b), key


@pytest.fixture
def stateful_net() -> Callable[..., StatefulNet]:
    """Factory of :class:`StatefulNet` in training mode with populated ``.grad``."""

    def make(stochastic: bool = False, fail_after: int | None = None) -> StatefulNet:
        torch.manual_seed(0)
        net = StatefulNet(stochastic, fail_after).train()
        for p in net.parameters():
            p.grad = torch.full_like(p, 0.25)
        return net

    return make


@pytest.fixture
def state() -> tuple[Callable[[nn.Module], dict[str, Any]], Callable[..., None]]:
    """``(snapshot, assert_same_state)``."""
    return snapshot, assert_same_state
