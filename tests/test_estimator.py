from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch import nn

import stochrobust as sr
from stochrobust import Estimator, as_estimator
from stochrobust.errors import ModelError, RangeError, ShapeError, StochRobustTypeError


class CountingNet(nn.Module):
    """Conv + BatchNorm + a seed injected additively; records the batch size of each call."""

    def __init__(self, stochastic: bool = True) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 3, padding=1)
        self.bn = nn.BatchNorm2d(3)
        self.drop = nn.Dropout(0.5)
        self.stochastic = stochastic
        self.calls: list[int] = []

    def forward(self, y: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        self.calls.append(y.shape[0])
        h = self.drop(self.bn(self.conv(y)))
        if z is not None:
            h = h + torch.tanh(h) * z
        return h


class TwoSeedNet(nn.Module):
    """A U-Net-like model with one seed per level, given as a tuple or a dict."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(1, 2, 3, padding=1)
        self.b = nn.Conv2d(2, 1, 3, padding=1)

    def forward(self, y: torch.Tensor, z: tuple[torch.Tensor, torch.Tensor] | dict) -> torch.Tensor:
        z1, z2 = (z["hi"], z["lo"]) if isinstance(z, dict) else z
        h = torch.relu(self.a(y)) * (1 + z1)
        low = nn.functional.avg_pool2d(h, 2) + z2
        return self.b(h + nn.functional.interpolate(low, scale_factor=2.0))


def tuple_sampler(batch: int, y: torch.Tensor, generator: torch.Generator | None):
    h, w = y.shape[-2:]
    z1 = torch.randn(batch, 1, h, w, generator=generator, dtype=y.dtype)
    z2 = torch.rand(batch, 2, h // 2, w // 2, generator=generator, dtype=y.dtype)
    return z1, z2


def dict_sampler(batch: int, y: torch.Tensor, generator: torch.Generator | None):
    z1, z2 = tuple_sampler(batch, y, generator)
    return {"hi": z1, "lo": z2}


@pytest.mark.parametrize("max_batch", [None, 1, 4, 7, 1000])
def test_stochastic_equals_per_seed_loop(max_batch: int | None, gen: torch.Generator) -> None:
    net = CountingNet().double().eval()
    est = Estimator(net, seed_shape=(3, 5, 6), max_batch=max_batch)
    y = torch.rand(3, 2, 5, 6, generator=gen, dtype=torch.float64)
    seeds = est.sample_seeds(y, 5, generator=gen)
    assert seeds.shape == (3, 5, 3, 5, 6)
    net.calls.clear()
    with torch.no_grad():
        fused = est.forward_seeds(y, seeds)
        rows = 3 * 5
        calls = list(net.calls)
        loop = torch.stack([net(y, seeds[:, k]) for k in range(5)], dim=1)
    assert fused.shape == (3, 5, 3, 5, 6)
    torch.testing.assert_close(fused, loop, rtol=1e-12, atol=1e-12)
    step = rows if max_batch is None else max_batch
    assert calls == [min(step, rows - s) for s in range(0, rows, step)]


@pytest.mark.parametrize("sampler", [tuple_sampler, dict_sampler], ids=["tuple", "dict"])
@pytest.mark.parametrize("max_batch", [None, 3])
def test_structured_seeds_equal_loop(sampler, max_batch, gen: torch.Generator) -> None:
    net = TwoSeedNet().double()
    est = Estimator(net, seed_sampler=sampler, max_batch=max_batch)
    y = torch.rand(2, 1, 4, 4, generator=gen, dtype=torch.float64)
    seeds = est.sample_seeds(y, 4, generator=gen)
    leaves = list(seeds.values()) if isinstance(seeds, dict) else list(seeds)
    assert [tuple(t.shape[:2]) for t in leaves] == [(2, 4), (2, 4)]
    with torch.no_grad():
        fused = est.forward_seeds(y, seeds)
        per_seed = []
        for k in range(4):
            zk = (
                {n: t[:, k] for n, t in seeds.items()}
                if isinstance(seeds, dict)
                else tuple(t[:, k] for t in seeds)
            )
            per_seed.append(net(y, zk))
    torch.testing.assert_close(fused, torch.stack(per_seed, 1), rtol=1e-12, atol=1e-12)


def test_deterministic_calls_model_once_and_returns_copies(gen: torch.Generator) -> None:
    net = CountingNet(stochastic=False).eval()
    est = Estimator(net, max_batch=2)
    y = torch.rand(3, 2, 4, 4, generator=gen)
    seeds = est.sample_seeds(y, 50)
    assert seeds.shape == (3, 50, 0)
    net.calls.clear()
    with torch.no_grad():
        out = est.forward_seeds(y, seeds)
        expected = net(y)
    assert net.calls == [2, 1, 3]  # two chunks of the 3 inputs, then our reference call
    assert out.shape == (3, 50, 3, 4, 4)
    torch.testing.assert_close(out, expected.unsqueeze(1).expand_as(out))
    assert out.stride(1) == 0  # a view, not 50 copies


@pytest.mark.parametrize("stochastic", [True, False])
@pytest.mark.parametrize("max_batch", [None, 1, 4, 7, 100])
def test_foreach_chunk_covers_each_fused_row_once(
    stochastic: bool, max_batch: int | None, gen: torch.Generator
) -> None:
    # 3 inputs x 5 seeds = 15 fused rows r = b*5 + k; 4 and 7 leave a short last chunk.
    net = CountingNet(stochastic=stochastic).double().eval()
    est = Estimator(net, seed_shape=(3, 4, 4) if stochastic else None, max_batch=max_batch)
    y = torch.rand(3, 2, 4, 4, generator=gen, dtype=torch.float64)
    seeds = est.sample_seeds(y, 5, generator=gen)
    got: list[tuple[slice, torch.Tensor]] = []
    net.calls.clear()
    with torch.no_grad():
        est.foreach_chunk(y, seeds, lambda rows, out: got.append((rows, out.clone())))
        calls = list(net.calls)
        loop = {
            b * 5 + k: net(y[b : b + 1], seeds[b : b + 1, k] if stochastic else None)[0]
            for b in range(3)
            for k in range(5)
        }
    # consecutive chunks from row 0 to row 15, one model call each, of <= max_batch rows
    assert got[0][0].start == 0 and got[-1][0].stop == 15
    assert all(a.stop == b.start for (a, _), (b, _) in itertools.pairwise(got))
    model_rows = 15 if stochastic else 3  # a deterministic model sees each input once
    step = model_rows if max_batch is None else max_batch
    assert calls == [min(step, model_rows - s) for s in range(0, model_rows, step)]
    for rows, out in got:
        assert out.shape == (rows.stop - rows.start, 3, 4, 4)
        for i, r in enumerate(range(rows.start, rows.stop)):
            torch.testing.assert_close(out[i], loop[r], rtol=1e-12, atol=1e-12)


def test_plain_callable_and_module_agree(gen: torch.Generator) -> None:
    lin = nn.Linear(4, 4)
    y = torch.randn(5, 4, generator=gen)
    a = Estimator(lin).sample(y, 3)
    b = Estimator(lambda t: lin(t)).sample(y, 3)
    torch.testing.assert_close(a, b)


@pytest.mark.parametrize("max_batch", [None, 4])
def test_gradients_match_per_seed_loop(max_batch: int | None, gen: torch.Generator) -> None:
    net = CountingNet().double().eval()
    est = Estimator(net, seed_shape=(3, 4, 4), max_batch=max_batch)
    y = torch.rand(2, 2, 4, 4, generator=gen, dtype=torch.float64)
    seeds = est.sample_seeds(y, 3, generator=gen)
    w = torch.randn(2, 3, 3, 4, 4, generator=gen, dtype=torch.float64)

    delta = torch.zeros_like(y, requires_grad=True)
    (est.forward_seeds(y + delta, seeds) * w).sum().backward()
    delta_loop = torch.zeros_like(y, requires_grad=True)
    sum((net(y + delta_loop, seeds[:, k]) * w[:, k]).sum() for k in range(3)).backward()
    torch.testing.assert_close(delta.grad, delta_loop.grad, rtol=1e-10, atol=1e-12)

    y_req = y.clone().requires_grad_(True)
    (est.forward_seeds(y_req, seeds) ** 2).sum().backward()
    assert y_req.grad is not None and float(y_req.grad.abs().sum()) > 0


def test_gradcheck_through_expansion(gen: torch.Generator) -> None:
    net = TwoSeedNet().double()
    est = Estimator(net, seed_sampler=tuple_sampler, max_batch=3)
    y = torch.rand(2, 1, 4, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    seeds = est.sample_seeds(y.detach(), 2, generator=gen)
    assert torch.autograd.gradcheck(lambda t: est.forward_seeds(t, seeds), (y,))


def test_deterministic_gradient_through_copies(gen: torch.Generator) -> None:
    lin = nn.Linear(3, 2).double()
    est = Estimator(lin)
    y = torch.randn(4, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    out = est.sample(y, 5)
    out.sum().backward()
    torch.testing.assert_close(y.grad, 5 * lin.weight.sum(0).expand(4, 3).detach())


def test_generator_reproducibility() -> None:
    est = Estimator(lambda y, z: y + z, seed_shape=(2, 3))
    y = torch.zeros(4, 2, 3)
    a = est.sample(y, 6, generator=torch.Generator().manual_seed(7))
    b = est.sample(y, 6, generator=torch.Generator().manual_seed(7))
    c = est.sample(y, 6, generator=torch.Generator().manual_seed(8))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    s = Estimator(TwoSeedNet(), seed_sampler=tuple_sampler)
    y4 = torch.zeros(2, 1, 4, 4)
    s1 = s.sample_seeds(y4, 3, generator=torch.Generator().manual_seed(3))
    s2 = s.sample_seeds(y4, 3, generator=torch.Generator().manual_seed(3))
    assert all(torch.equal(u, v) for u, v in zip(s1, s2, strict=True))


def test_seeds_follow_input_dtype_and_are_standard_normal() -> None:
    est = Estimator(lambda y, z: y, seed_shape=(1000,))
    z = est.sample_seeds(
        torch.zeros(2, 1, dtype=torch.float64), 50, generator=torch.Generator().manual_seed(0)
    )
    assert z.dtype == torch.float64
    assert abs(float(z.mean())) < 0.01 and abs(float(z.std()) - 1) < 0.01


@pytest.mark.parametrize("eval_mode", [True, False])
def test_model_state_is_left_unchanged(eval_mode: bool, gen: torch.Generator) -> None:
    net = CountingNet().train()
    net.conv.eval()  # a mixed-mode model must come back mixed
    frozen_param = net.bn.bias
    frozen_param.requires_grad_(False)
    net.conv.weight.grad = torch.full_like(net.conv.weight, 3.0)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    est = Estimator(net, seed_shape=(3, 4, 4), eval_mode=eval_mode)
    y = torch.rand(2, 2, 4, 4, generator=gen)
    y_copy = y.clone()
    torch.manual_seed(0)
    out = est.sample(y, 3, generator=gen)
    (out.sum()).backward()
    assert torch.equal(y, y_copy)
    assert net.training and not net.conv.training and net.bn.training
    assert net.conv.weight.requires_grad and not frozen_param.requires_grad
    after = net.state_dict()
    if eval_mode:
        for k in before:  # BatchNorm running statistics untouched
            assert torch.equal(before[k], after[k]), k
    else:  # the caller asked for its own (training) mode: BatchNorm statistics move
        assert not torch.equal(before["bn.running_mean"], after["bn.running_mean"])


def test_eval_mode_is_restored_when_model_raises(gen: torch.Generator) -> None:
    class Boom(nn.Module):
        def forward(self, y: torch.Tensor) -> torch.Tensor:
            assert not self.training
            raise RuntimeError("boom")

    net = Boom().train()
    with pytest.raises(RuntimeError, match="boom"):
        Estimator(net).sample(torch.zeros(1, 2), 2)
    assert net.training


def test_as_estimator_passthrough() -> None:
    est = Estimator(nn.Identity())
    assert as_estimator(est) is est
    assert not as_estimator(nn.Identity()).is_stochastic
    assert sr.as_estimator is as_estimator


# ---------------------------------------------------------------- bad input
def test_wrong_output_batch_size_raises_model_error() -> None:
    est = Estimator(lambda y, z: y[:1], seed_shape=(2,))
    with pytest.raises(ModelError, match=r"model: expected an output batch of 6 rows"):
        est.sample(torch.zeros(2, 2), 3)


def test_non_tensor_output_raises_model_error() -> None:
    with pytest.raises(ModelError, match="model: expected to return a torch.Tensor"):
        Estimator(lambda y: y.tolist()).sample(torch.zeros(2, 2), 3)


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"max_batch": 0}, RangeError, "max_batch"),
        ({"seed_shape": 3}, StochRobustTypeError, "seed_shape"),
        ({"seed_shape": (2, -1)}, RangeError, "seed_shape"),
        ({"seed_shape": (2,), "seed_sampler": tuple_sampler}, StochRobustTypeError, "seed_sampler"),
        ({"seed_sampler": 3}, StochRobustTypeError, "seed_sampler"),
    ],
)
def test_bad_constructor_arguments(kwargs, exc, match) -> None:
    with pytest.raises(exc, match=match):
        Estimator(nn.Identity(), **kwargs)


def test_not_callable_model() -> None:
    with pytest.raises(StochRobustTypeError, match="model: expected a callable"):
        Estimator(3)  # type: ignore[arg-type]
    with pytest.raises(StochRobustTypeError, match="got an Estimator"):
        Estimator(Estimator(nn.Identity()))  # type: ignore[arg-type]


def test_bad_call_inputs() -> None:
    est = Estimator(lambda y, z: y + z, seed_shape=(2,))
    y = torch.zeros(3, 2)
    with pytest.raises(StochRobustTypeError, match="y: expected a torch.Tensor"):
        est.sample([[0.0, 0.0]], 2)  # type: ignore[arg-type]
    with pytest.raises(StochRobustTypeError, match="y: expected a real floating-point tensor"):
        est.sample(torch.zeros(3, 2, dtype=torch.long), 2)
    with pytest.raises(ShapeError, match="y: expected a non-empty batch"):
        est.sample(torch.zeros(0, 2), 2)
    with pytest.raises(RangeError, match="n_seeds: expected an integer >= 1"):
        est.sample(y, 0)
    with pytest.raises(StochRobustTypeError, match="n_seeds: expected an integer"):
        est.sample(y, 2.5)  # type: ignore[arg-type]
    with pytest.raises(ShapeError, match=r"seeds: expected leading dims \(B, n\) = \(3, 4\)"):
        est.forward_seeds(y, torch.zeros(2, 4, 2))
    with pytest.raises(StochRobustTypeError, match="generator"):
        est.sample(y, 2, generator=0)  # type: ignore[arg-type]
    with pytest.raises(StochRobustTypeError, match="z: expected seeds"):
        est(y)
    with pytest.raises(StochRobustTypeError, match="z: expected None"):
        Estimator(nn.Identity())(y, torch.zeros(3, 2))


def test_nan_input_is_rejected_by_sample() -> None:
    est = Estimator(nn.Identity())
    y = torch.zeros(2, 3)
    y[1, 2] = math.nan
    with pytest.raises(sr.NonFiniteError, match="y: expected finite values, got 1 NaN"):
        est.sample(y, 2)


def test_bad_seed_sampler_output() -> None:
    est = Estimator(lambda y, z: y, seed_sampler=lambda b, y, g: torch.zeros(b + 1, 2))
    msg = r"seed_sampler: expected tensors with leading dimension 6"
    with pytest.raises(ModelError, match=msg):
        est.sample_seeds(torch.zeros(2, 2), 3)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu_with_cpu_generator() -> None:
    net = CountingNet().eval()
    est = Estimator(net, seed_shape=(3, 4, 4), max_batch=5)
    y = torch.rand(2, 2, 4, 4)
    cpu = est.sample(y, 6, generator=torch.Generator().manual_seed(0))
    net.cuda()
    gpu = est.sample(y.cuda(), 6, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-4, atol=1e-5)
