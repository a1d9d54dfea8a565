"""Every public entry point that takes a model × every model shape × every failure mode.

For each case the model's state (train/eval flags, ``requires_grad``, ``.grad``, buffers)
must come back unchanged, a healthy model must run, and a failing one must end in a typed
stochrobust error: :class:`~stochrobust.ModelError` when the model raises or returns a wrong
batch or a non-float tensor, :class:`~stochrobust.NonFiniteError` (or ``ModelError``) for
NaN outputs — never a raw torch error from inside the library.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable

import pytest
import torch
from torch import nn

import stochrobust as sr
from stochrobust.audit import run_audit
from stochrobust.consistency import Consistent, Inpainting
from stochrobust.metrics import dataset_per_pixel_std
from stochrobust.sensitivity import (
    PGD,
    RobustnessRegularizer,
    local_lipschitz,
    robustness,
    sensitivity_at,
    w2_sensitivity_at,
)
from stochrobust.smoothing import (
    MedianSmoothing,
    certify_percentile,
    sample_noisy_outputs,
    smoothed_percentile,
)
from stochrobust.testing import assert_sensitivity_below

pytestmark = pytest.mark.slow  # 672 small cases, about 17 s on one CPU core

MODES = ["healthy", "raise", "raise after first call", "nan", "wrong batch", "int output"]


class FaultyNet(nn.Module):
    """A BatchNorm + Dropout network on ``(B, 1, 2, 2)`` images with an injected fault."""

    def __init__(self, mode: str) -> None:
        super().__init__()
        self.mode, self.calls = mode, 0
        self.body = nn.Sequential(
            nn.Flatten(),
            nn.Linear(4, 4),
            nn.BatchNorm1d(4),
            nn.Dropout(0.3),
            nn.Unflatten(1, (1, 2, 2)),
        )

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.mode == "raise" or (self.mode == "raise after first call" and self.calls > 1):
            raise RuntimeError("injected failure")
        out = self.body(y)
        if self.mode == "nan":
            return out * float("nan")
        if self.mode == "wrong batch":
            return out[1:]
        if self.mode == "int output":
            return (out * 100).long()
        return out


class Wrapper:
    def __init__(self, m: nn.Module) -> None:
        self.m = m

    def __call__(self, y: torch.Tensor) -> torch.Tensor:
        return self.m(y)


GLOBAL_NET: nn.Module = nn.Identity()


def via_global(y: torch.Tensor) -> torch.Tensor:
    return GLOBAL_NET(y)


def as_global(m: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    globals()["GLOBAL_NET"] = m
    return via_global


SHAPES: dict[str, Callable[[nn.Module], object]] = {
    "Module": lambda m: m,
    "bound method": lambda m: m.forward,
    "partial": lambda m: functools.partial(lambda net, y: net(y), m),
    "closure": lambda m: lambda y: m(y),
    "global": as_global,
    "wrapper object": Wrapper,
    "Consistent": lambda m: Consistent(
        lambda u: m(u), Inpainting(torch.tensor([[1.0, 0.0], [0.0, 0.0]]))
    ),
    "Estimator": lambda m: sr.Estimator(lambda y, z: m(y + 0.01 * z), seed_shape=(1, 2, 2)),
}

KW = {"solver": PGD(steps=2), "n_seeds": 2}

ENTRIES: dict[str, tuple[Callable[[object, torch.Tensor], object], bool]] = {
    # name: (call, calls the model more than once)
    "sensitivity_at": (lambda g, y: sensitivity_at(g, y, 0.1, **KW), True),
    "w2_sensitivity_at": (lambda g, y: w2_sensitivity_at(g, y, 0.1, **KW), True),
    "local_lipschitz": (lambda g, y: local_lipschitz(g, y, 0.1, **KW), True),
    "robustness": (lambda g, y: robustness(g, y, 0.1, batch_size=2, progress=False, **KW), True),
    "RobustnessRegularizer": (lambda g, y: RobustnessRegularizer(0.1, **KW)(g, y), True),
    "assert_sensitivity_below": (
        lambda g, y: assert_sensitivity_below(g, y, 0.1, max_norm=1e9, **KW),
        True,
    ),
    "run_audit (CLI audit)": (lambda g, y: run_audit(g, y, 0.1, **KW), True),
    "sample_noisy_outputs": (lambda g, y: sample_noisy_outputs(g, y, 0.1, 3), False),
    "smoothed_percentile": (lambda g, y: smoothed_percentile(g, y, 0.1, n_samples=3), False),
    "certify_percentile": (lambda g, y: certify_percentile(g, y, 0.1, 0.5, n_samples=20), False),
    "MedianSmoothing": (lambda g, y: MedianSmoothing(g, 0.1, n_samples=3)(y), False),
    "MedianSmoothing.certify": (
        lambda g, y: MedianSmoothing(g, 0.1).certify(y, 0.1, n_samples=20),
        False,
    ),
    "dataset_per_pixel_std": (
        lambda g, y: dataset_per_pixel_std(
            g if isinstance(g, sr.Estimator) and g.is_stochastic else sr.Estimator(g), y, n_seeds=2
        ),
        False,
    ),
    "Estimator.sample": (
        lambda g, y: (g if isinstance(g, sr.Estimator) else sr.Estimator(g)).sample(y, 2),
        False,
    ),
}

# Silent by design, not a failure: an Estimator returns what the model returns (the callers
# above check finiteness), and a consistency projection turns an integer output into floats.
SILENT = {("Estimator.sample", "nan"), ("Consistent", "int output")}


def state(m: nn.Module) -> tuple[object, ...]:
    return (
        [x.training for x in m.modules()],
        [p.requires_grad for p in m.parameters()],
        [p.grad is None for p in m.parameters()],
        {k: v.clone() for k, v in m.state_dict().items()},
    )


def unchanged(a: tuple[object, ...], b: tuple[object, ...]) -> bool:
    sa, sb = a[3], b[3]
    assert isinstance(sa, dict) and isinstance(sb, dict)
    return a[:3] == b[:3] and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.parametrize("entry", list(ENTRIES))
def test_entry_point_model_shape_failure_mode(entry: str, shape: str, mode: str) -> None:
    torch.manual_seed(0)
    net = FaultyNet(mode).train()
    before = state(net)
    call, multi = ENTRIES[entry]
    y = torch.rand(3, 1, 2, 2)
    y_before = y.clone()
    expect_error = mode != "healthy" and not (mode == "raise after first call" and not multi)
    silent = (entry, mode) in SILENT or (shape, mode) in SILENT
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sr.smoothing.CertificationWarning)
        warnings.simplefilter("error", sr.GuardWarning)  # every shape here is discoverable
        if expect_error and not silent:
            with pytest.raises(sr.StochRobustError) as info:
                call(SHAPES[shape](net), y)
            err = info.value
            if mode == "nan":
                assert isinstance(err, (sr.NonFiniteError, sr.ModelError)), repr(err)
            elif shape != "Consistent" or mode != "wrong batch":
                assert isinstance(err, sr.ModelError), repr(err)
            if mode.startswith("raise"):
                assert isinstance(err.__cause__, RuntimeError) and "injected" in str(err)
        else:
            call(SHAPES[shape](net), y)
    assert unchanged(state(net), before), f"{entry} changed the model's state"
    assert torch.equal(y, y_before), f"{entry} modified its input in place"
