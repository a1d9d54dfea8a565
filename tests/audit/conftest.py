"""Fixtures of the audit tests: a temporary model module importable as ``module:factory``."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

MODELS = '''
import torch


def scale():
    """G(y) = 0.5 y: eq. 2 = 0.5 eps, Lipschitz 0.5."""
    return lambda y: 0.5 * y


def conv():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(1, 1, 3, padding=1), torch.nn.Tanh())


def rgb_conv():
    torch.manual_seed(0)
    return torch.nn.Conv2d(3, 3, 3, padding=1)


def erratic():
    return lambda y: y + 0.05 * torch.sin(200.0 * y)


def noisy():
    """Stochastic: called as model(y, z)."""
    return lambda y, z: y + 0.1 * z


def wrong_batch():
    return lambda y: y[:1]


def failing():
    raise RuntimeError("weights not found\\n(second line)")


def not_a_model():
    return 42


VALUE = 3
'''


@pytest.fixture
def model_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[], str]:
    """Write the models above as a uniquely named module in ``tmp_path``; return its name.

    ``tmp_path`` is the working directory (the command imports MODEL modules from there)
    and ``sys.path`` / ``sys.modules`` are restored afterwards.
    """
    name = f"audit_models_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(MODELS)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [str(tmp_path), *sys.path])
    yield name
    sys.modules.pop(name, None)


@pytest.fixture
def repo_root() -> str:
    return str(Path(__file__).resolve().parents[2])
