from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from stochrobust import ModelError, NonFiniteError, RangeError, ShapeError, StochRobustTypeError
from stochrobust.smoothing import sample_noisy_outputs, smoothed_percentile


class CountingNet(nn.Module):
    """Conv + BatchNorm + Dropout; records the batch size of every call."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3, padding=1)
        self.bn = nn.BatchNorm2d(2)
        self.drop = nn.Dropout(0.5)
        self.calls: list[int] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls.append(x.shape[0])
        return self.drop(torch.tanh(self.bn(self.conv(x))))


def reference_noise(x: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    """The documented noise layout: row b·n + k of one (B·n, ...) standard normal draw."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randn((x.shape[0] * n, *x.shape[1:]), generator=g, dtype=x.dtype)
    return z.reshape(x.shape[0], n, *x.shape[1:])


@pytest.mark.parametrize(("n", "max_batch"), [(7, None), (7, 4), (7, 3), (5, 1), (6, 100)])
def test_fused_equals_loop_and_uses_exactly_n_samples(n: int, max_batch: int | None) -> None:
    net = CountingNet().double().train()
    x = torch.rand(2, 1, 5, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    sigma = 0.1
    fused = sample_noisy_outputs(
        net, x, sigma, n, generator=torch.Generator().manual_seed(3), max_batch=max_batch
    )
    calls = list(net.calls)
    assert fused.shape == (2, n, 2, 5, 6)
    rows = 2 * n
    assert sum(calls) == rows  # every sample evaluated, no dropped remainder
    step = rows if max_batch is None else max_batch
    assert calls == [min(step, rows - s) for s in range(0, rows, step)]
    g = reference_noise(x, n, seed=3)
    with torch.no_grad():
        net.eval()
        loop = torch.stack([net(x + sigma * g[:, k]) for k in range(n)], dim=1)
    torch.testing.assert_close(fused, loop, rtol=1e-12, atol=1e-12)


def test_model_state_is_restored() -> None:
    net = CountingNet().train()
    net.bn.eval()  # mixed modes must come back as they were
    stats = (net.bn.running_mean.clone(), net.bn.running_var.clone())
    x = torch.rand(2, 1, 4, 4)
    sample_noisy_outputs(net, x, 0.1, 5)
    assert net.training and net.conv.training and not net.bn.training and net.drop.training
    assert torch.equal(net.bn.running_mean, stats[0]) and torch.equal(net.bn.running_var, stats[1])
    assert all(p.requires_grad and p.grad is None for p in net.parameters())


def test_model_state_is_restored_on_exception() -> None:
    class Failing(CountingNet):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            super().forward(x)
            if len(self.calls) == 2:
                raise RuntimeError("boom")
            return x

    net = Failing().train()
    with pytest.raises(RuntimeError, match="boom"):
        sample_noisy_outputs(net, torch.rand(2, 1, 4, 4), 0.1, 6, max_batch=4)
    assert all(m.training for m in net.modules())


def test_eval_mode_inside_the_call() -> None:
    seen: list[bool] = []

    class Probe(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            seen.append(self.training)
            return x

    probe = Probe().train()
    sample_noisy_outputs(probe, torch.zeros(1, 3), 0.1, 4)
    assert seen == [False] and probe.training


def test_same_generator_same_result_and_input_untouched() -> None:
    net = CountingNet().eval()
    x = torch.rand(3, 1, 6, 6)
    x0 = x.clone()
    a = smoothed_percentile(net, x, 0.05, n_samples=9, generator=torch.Generator().manual_seed(7))
    b = smoothed_percentile(net, x, 0.05, n_samples=9, generator=torch.Generator().manual_seed(7))
    c = smoothed_percentile(net, x, 0.05, n_samples=9, generator=torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.equal(x, x0)


@pytest.mark.parametrize("n", [1, 2, 9, 10, 21])
@pytest.mark.parametrize("p", [0.5, 0.1, 0.75, 0.3])
def test_percentile_is_the_inverted_cdf_order_statistic(n: int, p: float) -> None:
    x = torch.rand(2, 1, 3, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    net = lambda t: torch.sin(3 * t)  # noqa: E731
    samples = sample_noisy_outputs(net, x, 0.2, n, generator=torch.Generator().manual_seed(2))
    value = smoothed_percentile(net, x, 0.2, p, n, generator=torch.Generator().manual_seed(2))
    # peer: numpy's "inverted_cdf" quantile, the smallest x with F_n(x) ≥ p
    peer = np.quantile(samples.numpy(), p, axis=1, method="inverted_cdf")
    np.testing.assert_array_equal(value.numpy(), peer)
    if p == 0.5:  # torch.median: the lower middle sample for even n
        assert torch.equal(value, samples.median(dim=1).values)


def test_gradient_flows_to_input(device: torch.device, dtype: torch.dtype) -> None:
    net = nn.Conv2d(1, 1, 3, padding=1).to(device=device, dtype=dtype)
    x = torch.rand(2, 1, 5, 5, device=device, dtype=dtype, requires_grad=True)
    out = smoothed_percentile(net, x, 0.1, n_samples=5)
    assert out.dtype == dtype and out.device.type == device.type
    out.sum().backward()
    assert x.grad is not None and bool(torch.isfinite(x.grad).all()) and bool(x.grad.ne(0).any())


def test_clip_commutes_with_the_percentile() -> None:
    net = lambda t: 3 * t - 1  # noqa: E731  (outputs leave [0, 1])
    x = torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    raw = smoothed_percentile(net, x, 0.3, 0.3, 11, generator=torch.Generator().manual_seed(1))
    clipped = smoothed_percentile(
        net, x, 0.3, 0.3, 11, generator=torch.Generator().manual_seed(1), box=(0.0, 1.0)
    )
    assert bool((raw < 0).any()) and bool((raw > 1).any())
    assert torch.equal(clipped, raw.clamp(0.0, 1.0))


def test_non_image_shapes() -> None:
    out = smoothed_percentile(lambda t: t.sum(dim=1), torch.zeros(4, 3), 0.1, n_samples=3)
    assert out.shape == (4,)


@pytest.mark.parametrize(
    ("kwargs", "error", "name"),
    [
        ({"sigma": 0.0}, RangeError, "sigma"),
        ({"sigma": -0.1}, RangeError, "sigma"),
        ({"n_samples": 0}, RangeError, "n_samples"),
        ({"n_samples": 2.0}, StochRobustTypeError, "n_samples"),
        ({"max_batch": 0}, RangeError, "max_batch"),
        ({"box": (1.0, 0.0)}, RangeError, "box"),
        ({"box": (0.0,)}, StochRobustTypeError, "box"),
        ({"y": torch.tensor([[math.nan]])}, NonFiniteError, "^y: "),
        ({"y": torch.zeros(0, 3)}, ShapeError, "^y: "),
        ({"y": [[0.0]]}, StochRobustTypeError, "^y: "),
        ({"model": 3}, StochRobustTypeError, "model"),
        ({"generator": 3}, StochRobustTypeError, "generator"),
    ],
)
def test_bad_input(kwargs: dict, error: type[Exception], name: str) -> None:
    args = {"model": nn.Identity(), "y": torch.zeros(2, 3), "sigma": 0.1, "n_samples": 3}
    args |= kwargs
    with pytest.raises(error, match=name):
        sample_noisy_outputs(**args)


def test_bad_percentile_and_model_output() -> None:
    with pytest.raises(RangeError, match="p"):
        smoothed_percentile(nn.Identity(), torch.zeros(2, 3), 0.1, p=1.0)
    with pytest.raises(ModelError, match="model"):
        sample_noisy_outputs(lambda t: t[:1], torch.zeros(2, 3), 0.1, 3)
