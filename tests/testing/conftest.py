"""Shared helpers of the stochrobust.testing tests: the disk toy estimators, plugin args."""

from __future__ import annotations

import importlib.metadata
import os
from collections.abc import Callable

import pytest
import torch

from stochrobust import Estimator
from stochrobust.toy import sine_disk_estimator


def disk_reference(alpha: float) -> Callable[[torch.Tensor], torch.Tensor]:
    """[O23] §4: ``X̂_α(y) = (y, sqrt(1 − y²)·sin(αy))`` for ``y ∈ (−1, 1)``, as ``(B, 1) → (B, 2)``.

    Written independently of ``stochrobust.toy`` for the brute-force reference.
    """

    def x_hat(y: torch.Tensor) -> torch.Tensor:
        return torch.cat([y, torch.sqrt(1 - y**2) * torch.sin(alpha * y)], dim=1)

    return x_hat


def disk_sensitivity_brute_force(alpha: float, y: torch.Tensor, eps: float) -> torch.Tensor:
    """Eq. 2 at every ``y`` by exhaustive search over the 1-D ball ``[−ε, ε]`` (float64)."""
    g = disk_reference(alpha)
    y64 = y.double()
    deltas = torch.linspace(-eps, eps, 20001, dtype=torch.float64)
    pert = (y64.reshape(-1, 1, 1) + deltas.reshape(1, -1, 1)).reshape(-1, 1)
    out = g(pert).reshape(y.shape[0], deltas.numel(), 2)
    return (out - g(y64).unsqueeze(1)).norm(dim=-1).amax(dim=1)


def plugin_args() -> list[str]:
    """How to load the plugin in a pytester run.

    Installed (entry point ``stochrobust``): by its entry-point name (loading the module
    under a second name would register it twice); from a source checkout: by module.
    """
    installed = any(
        ep.name == "stochrobust" and ep.value == "stochrobust.testing.plugin"
        for ep in importlib.metadata.entry_points(group="pytest11")
    )
    if installed:
        return ["-p", "stochrobust"]
    return ["-p", "stochrobust.testing.plugin"]


@pytest.fixture
def disk() -> Callable[[float], Estimator]:
    """The library's hand-crafted disk estimators X̂_α (deterministic Estimators)."""
    return sine_disk_estimator


@pytest.fixture
def repo_root() -> str:
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def disk_brute_force() -> Callable[[float, torch.Tensor, float], torch.Tensor]:
    return disk_sensitivity_brute_force


@pytest.fixture(name="plugin_args")
def plugin_args_fixture() -> list[str]:
    return plugin_args()
