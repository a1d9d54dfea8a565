"""Chunked δ-gradients (``max_batch``) equal the one-shot ones; memory is one chunk's."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import stochrobust as sr
from stochrobust.sensitivity import (
    APGD,
    BIM,
    CW,
    FGSM,
    PGD,
    AdamAscent,
    Protocol,
    lipschitz_lower_bound,
    local_lipschitz,
    sensitivity_at,
    w2_sensitivity_at,
)
from stochrobust.sensitivity._objective import SameSeedObjective, W2Objective
from stochrobust.sensitivity.lipschitz import _Ratio

pytestmark = pytest.mark.filterwarnings("ignore::stochrobust.ConvergenceWarning")


class Net(nn.Module):
    """A small non-linear G(y, z) with BatchNorm and dropout (state hygiene)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(2, 3, 3, padding=1)
        self.bn = nn.BatchNorm2d(3)
        self.drop = nn.Dropout(0.5)
        self.out = nn.Conv2d(3, 1, 3, padding=1)

    def forward(self, y: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        z = torch.zeros_like(y) if z is None else z
        return self.out(self.drop(torch.tanh(self.bn(self.conv(torch.cat([y, z], 1))))))


def _setup(stochastic: bool = True, max_batch: int | None = None):
    net = Net().double().eval()
    seed_shape = (1, 5, 5) if stochastic else None
    est = sr.Estimator(net, seed_shape=seed_shape, max_batch=max_batch)
    y = torch.rand(3, 1, 5, 5, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    return net, est, y


def _objectives(est, y, k=4):
    seeds = est.sample_seeds(y, k if est.is_stochastic else 1, torch.Generator().manual_seed(2))
    with torch.no_grad():
        clean = est.forward_seeds(y, seeds)
    same = SameSeedObjective(est, y, seeds, clean)
    seeds2 = est.sample_seeds(y, seeds.shape[1], torch.Generator().manual_seed(3))
    return {"eq6": same, "ratio": _Ratio(same), "w2": W2Objective(est, y, seeds2, clean)}


@pytest.mark.parametrize("stochastic", [True, False])
@pytest.mark.parametrize("name", ["eq6", "ratio", "w2"])
@pytest.mark.parametrize("max_batch", [1, 2])
def test_chunked_value_and_grad_equal_one_shot(stochastic, name, max_batch) -> None:
    _, one, y = _setup(stochastic)
    _, chunked, _ = _setup(stochastic, max_batch)
    a, b = _objectives(one, y)[name], _objectives(chunked, y)[name]
    assert not a.chunked and b.chunked
    delta = 0.3 * torch.randn(y.shape, generator=torch.Generator().manual_seed(4), dtype=y.dtype)
    # The one-shot reference is plain autograd through objective(delta) in one piece.
    d = delta.clone().requires_grad_(True)
    out = a(d)
    value = out[0] if isinstance(out, tuple) else out
    (grad,) = torch.autograd.grad(value.sum(), d)
    v2, aux2, g2 = b.value_and_grad(delta)
    torch.testing.assert_close(v2, value.detach(), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(g2, grad, rtol=1e-12, atol=1e-12)
    assert g2.abs().sum() > 0
    if isinstance(out, tuple):
        torch.testing.assert_close(aux2, out[1].detach(), rtol=1e-12, atol=1e-12)


SOLVERS = {
    "pgd": lambda: PGD(steps=3),
    "fgsm": lambda: FGSM(),
    "bim": lambda: BIM(steps=3),
    "apgd": lambda: APGD(steps=4),
    "adam": lambda: AdamAscent(steps=3, lr=0.1),
    "cw": lambda: CW(steps=3),
    "protocol": lambda: Protocol("fast"),
}


@pytest.mark.parametrize("solver", sorted(SOLVERS))
def test_every_solver_same_result_chunked(solver) -> None:
    results = []
    for mb in (None, 2):
        _, est, y = _setup(True, mb)
        g = torch.Generator().manual_seed(5)
        res = sensitivity_at(est, y, 0.4, n_seeds=4, solver=SOLVERS[solver](), generator=g)
        results.append((res, g.get_state()))
    (a, ga), (b, gb) = results
    torch.testing.assert_close(b.value, a.value, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(b.delta, a.delta, rtol=1e-12, atol=1e-12)
    assert torch.equal(ga, gb)  # the generator consumed exactly the same draws


@pytest.mark.parametrize("fn", ["w2", "local_lipschitz", "lipschitz_lower_bound"])
def test_other_attacks_same_result_chunked(fn) -> None:
    values = []
    for mb in (None, 3):
        _, est, y = _setup(True, mb)
        g = torch.Generator().manual_seed(6)
        if fn == "w2":
            v = w2_sensitivity_at(est, y, 0.4, n_seeds=4, solver=PGD(steps=3), generator=g).value
        elif fn == "local_lipschitz":
            v = local_lipschitz(est, y, 0.4, n_seeds=4, solver=PGD(steps=3), generator=g)
        else:
            v = torch.tensor(
                lipschitz_lower_bound(
                    est, [y], 0.4, n_seeds=4, solver=PGD(steps=3), generator=g
                ).value
            )
        values.append(v)
    torch.testing.assert_close(values[1], values[0], rtol=1e-12, atol=1e-12)


def test_chunked_attack_leaves_model_unchanged() -> None:
    net, est, y = _setup(True, 2)
    net.train()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    sensitivity_at(est, y, 0.4, n_seeds=4, solver=PGD(steps=2), generator=torch.Generator())
    assert net.training and all(m.training for m in net.modules())
    assert all(p.requires_grad and p.grad is None for p in net.parameters())
    for k, v in net.state_dict().items():
        assert torch.equal(v, before[k]), k


def _peak_saved(est, y, k: int = 8) -> int:
    """Peak number of elements saved by live autograd graphs during one δ-gradient."""
    obj = _objectives(est, y, k)["eq6"]
    live, peak = [0], [0]

    class Held:
        def __init__(self, t: torch.Tensor) -> None:
            self.t, self.size = t, t.numel()
            live[0] += self.size
            peak[0] = max(peak[0], live[0])

        def __del__(self) -> None:
            live[0] -= self.size

    delta = 0.1 * torch.ones_like(y)
    with torch.autograd.graph.saved_tensors_hooks(Held, lambda h: h.t):
        obj.value_and_grad(delta)
    return peak[0]


def test_chunked_gradient_keeps_one_chunk_graph() -> None:
    _, one, y = _setup(True)
    _, chunked, _ = _setup(True, 4)
    per_chunk = _peak_saved(chunked, y, 2)  # 3 samples · 2 seeds: chunks of 4 and 2 rows
    assert _peak_saved(chunked, y, 16) == per_chunk  # 48 rows, 12 chunks of 4
    assert _peak_saved(one, y, 16) >= 10 * per_chunk  # all 48 rows' graph at once


def _regularizer_grads(chunked: bool, stochastic: bool, weight: float, generator):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6 if stochastic else 3, 8), nn.Tanh(), nn.Linear(8, 3)).double()
    model = (lambda y, z: net(torch.cat([y, z], 1))) if stochastic else net
    est = sr.Estimator(
        model,
        seed_shape=(3,) if stochastic else None,
        max_batch=3 if chunked else None,
        eval_mode=False,
        modules=[net],
    )
    y = torch.rand(4, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    reg = sr.sensitivity.RobustnessRegularizer(eps=0.3, n_seeds=5, solver=PGD(steps=2))
    if chunked:
        value = reg.backward(est, y, generator=generator, weight=weight)
    else:
        loss = reg(est, y, generator=generator)
        (weight * loss).backward()
        value = loss.detach()
    return value, [p.grad.clone() for p in net.parameters()]


@pytest.mark.parametrize("stochastic", [True, False])
def test_regularizer_backward_equals_forward_backward(stochastic) -> None:
    # The same generator state: the same seeds and attack in both computations.
    v1, g1 = _regularizer_grads(
        False, stochastic, weight=2.5, generator=torch.Generator().manual_seed(2)
    )
    v2, g2 = _regularizer_grads(
        True, stochastic, weight=2.5, generator=torch.Generator().manual_seed(2)
    )
    torch.testing.assert_close(v2, v1, rtol=1e-12, atol=1e-12)
    for a, b in zip(g1, g2, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-12, atol=1e-12)
    assert all(a.abs().sum() > 0 for a in g1[:3])  # the output bias cancels in G(y+δ) − G(y)


def test_pair_chunks_cover_every_pair_once_within_max_batch() -> None:
    from stochrobust.sensitivity.regularizer import _pair_chunks

    for batch, k, mb in [(4, 5, 3), (4, 5, 20), (3, 1, 2), (2, 7, 1), (5, 2, None)]:
        seen = torch.zeros(batch, k, dtype=torch.int64)
        for b0, b1, k0, k1 in _pair_chunks(batch, k, mb):
            seen[b0:b1, k0:k1] += 1
            assert mb is None or 2 * (b1 - b0) * (k1 - k0) <= max(mb, 2)
        assert bool((seen == 1).all())
