"""IterativeSampler (checkpointed steps) and the automatic max_batch heuristic."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import stochrobust as sr
from stochrobust import RangeError, ShapeError, StochRobustTypeError
from stochrobust.memory import IterativeSampler, auto_max_batch, max_batch_for
from stochrobust.sensitivity import PGD, sensitivity_at

pytestmark = pytest.mark.filterwarnings("ignore::stochrobust.ConvergenceWarning")


class Step(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(2, 8, 3, padding=1)
        self.drop = nn.Dropout(0.5)
        self.out = nn.Conv2d(8, 1, 3, padding=1)

    def forward(self, x, y, z, t):
        h = self.drop(torch.tanh(self.conv(torch.cat([x, y], 1))))
        return x + 0.1 * torch.tanh(self.out(h)) + 0.01 * z


def _sampler(checkpoint: bool) -> IterativeSampler:
    return IterativeSampler(
        Step().double(), n_steps=6, noise_shape=(1, 4, 4), checkpoint=checkpoint
    )


def test_sampler_is_the_unrolled_loop() -> None:
    sampler = _sampler(True).eval()
    y = torch.rand(3, 1, 4, 4, dtype=torch.float64)
    z = torch.randn(3, 6, 1, 4, 4, dtype=torch.float64)
    x = y
    for t in range(6):  # the definition, written out
        x = sampler.step(x, y, z[:, t], t)
    torch.testing.assert_close(sampler(y, z), x, rtol=0, atol=0)
    started = IterativeSampler(sampler.step, 6, (1, 4, 4), init=lambda y: 1 - y).eval()
    x = 1 - y
    for t in range(6):
        x = sampler.step(x, y, z[:, t], t)
    torch.testing.assert_close(started(y, z), x, rtol=0, atol=0)


def test_checkpointed_gradient_equals_plain_and_saves_fewer_tensors() -> None:
    y = torch.rand(2, 1, 4, 4, dtype=torch.float64)
    z = torch.randn(2, 6, 1, 4, 4, dtype=torch.float64)
    grads, saved = [], []
    for checkpoint in (False, True):
        sampler = _sampler(checkpoint).eval()
        x = y.clone().requires_grad_(True)
        storages: dict[int, int] = {}

        def pack(t, storages=storages):
            storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            out = sampler(x, z)
        saved.append(sum(storages.values()))
        grads.append(torch.autograd.grad(out.pow(2).sum(), x)[0])
    torch.testing.assert_close(grads[1], grads[0], rtol=1e-12, atol=1e-12)
    assert saved[1] < saved[0] / 2


def test_attack_on_sampler_checkpointed_and_chunked_matches_plain() -> None:
    y = torch.rand(2, 1, 4, 4, dtype=torch.float64)
    values = []
    for ck, mb in ((False, None), (True, 3)):
        net = _sampler(ck).train()  # attacks run in eval mode; the caller's mode comes back
        g = torch.Generator().manual_seed(0)
        res = sensitivity_at(
            net.estimator(max_batch=mb), y, 0.3, n_seeds=4, solver=PGD(steps=2), generator=g
        )
        assert net.training and net.step.training
        values.append(res.value)
    torch.testing.assert_close(values[1], values[0], rtol=1e-12, atol=1e-12)


def test_sampler_bad_input() -> None:
    with pytest.raises(StochRobustTypeError, match="step"):
        IterativeSampler(3, 2, (1,))  # type: ignore[arg-type]
    with pytest.raises(RangeError, match="n_steps"):
        IterativeSampler(lambda x, y, z, t: x, 0, (1,))
    with pytest.raises(StochRobustTypeError, match="noise_shape"):
        IterativeSampler(lambda x, y, z, t: x, 2, 3)  # type: ignore[arg-type]
    with pytest.raises(ShapeError, match="z: expected a noise sequence"):
        IterativeSampler(lambda x, y, z, t: x, 2, (1,))(torch.zeros(2, 1), torch.zeros(2, 3, 1))


def test_max_batch_for_arithmetic() -> None:
    # 10 GB free, half usable, 100 MB per row: 50 rows; capped by the rows; at least 1.
    assert max_batch_for(10e9, 100e6, rows=1000) == 50
    assert max_batch_for(10e9, 100e6, rows=1000, fraction=1.0) == 100
    assert max_batch_for(10e9, 100e6, rows=30) == 30
    assert max_batch_for(10e6, 100e6, rows=30) == 1
    assert max_batch_for(10e9, 0.0, rows=7) == 7
    with pytest.raises(RangeError, match="fraction"):
        max_batch_for(1.0, 1.0, rows=1, fraction=0.0)
    with pytest.raises(RangeError, match="bytes_per_row"):
        max_batch_for(1.0, -1.0, rows=1)


def test_auto_max_batch_with_mocked_cuda(monkeypatch) -> None:
    """The probe runs (on CPU); the CUDA memory queries are mocked: 2 rows peak 300 MB."""
    import stochrobust.memory as mem

    state = {"allocated": 1_000_000_000}
    monkeypatch.setattr(mem, "_is_cuda", lambda t: True)
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: None)
    monkeypatch.setattr(torch.cuda, "reset_peak_memory_stats", lambda device=None: None)
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda device=None: state["allocated"])
    monkeypatch.setattr(
        torch.cuda, "max_memory_allocated", lambda device=None: state["allocated"] + 300_000_000
    )
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (6_000_000_000, 8e9))
    net = nn.Sequential(nn.Linear(3, 3), nn.Dropout()).train()
    est = sr.Estimator(lambda y, z: net(y + z), seed_shape=(3,))
    # 150 MB per row; half of 6 GB: 20 rows; B·K = 4·16 = 64 rows.
    assert auto_max_batch(est, torch.zeros(4, 3), 16) == 20
    assert auto_max_batch(est, torch.zeros(4, 3), 4) == 16  # capped by B·K
    assert auto_max_batch(est, torch.zeros(4, 3), 16, probe_rows=1) == 10  # 300 MB per row
    assert auto_max_batch(est, torch.zeros(4, 3), 16, fraction=1.0) == 40
    assert net.training and all(p.requires_grad and p.grad is None for p in net.parameters())


def test_auto_max_batch_cpu_and_bad_input() -> None:
    assert auto_max_batch(nn.Identity(), torch.zeros(2, 3), 4) is None
    with pytest.raises(RangeError, match="n_seeds"):
        auto_max_batch(nn.Identity(), torch.zeros(2, 3), 0)
    with pytest.raises(RangeError, match="fraction"):
        auto_max_batch(nn.Identity(), torch.zeros(2, 3), 2, fraction=1.5)
