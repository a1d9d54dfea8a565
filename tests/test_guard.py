"""The model-state guard: discovery rules, restoration, re-entrance, typed model failures."""

from __future__ import annotations

import copy
import functools
import warnings

import pytest
import torch
from torch import nn

import stochrobust as sr
from stochrobust import _guard
from stochrobust._discover import find_modules
from stochrobust._guard import frozen, guard, run_model, stage
from stochrobust.consistency import Consistent, Inpainting
from stochrobust.sensitivity import PGD, RobustnessRegularizer, sensitivity_at

NET = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4), nn.Dropout(0.5))
"""A module-level network, reached by functions only through their globals."""


def uses_global(y: torch.Tensor) -> torch.Tensor:
    return NET(y)


class Wrapper:
    """A user callable object holding its network in an attribute."""

    def __init__(self, m: nn.Module) -> None:
        self.m = m

    def __call__(self, y: torch.Tensor) -> torch.Tensor:
        return self.m(y)


class Slotted:
    """A callable that hides its network from introspection (no instance ``__dict__``)."""

    __slots__ = ("_m",)

    def __init__(self, m: nn.Module) -> None:
        self._m = m

    def __call__(self, y: torch.Tensor) -> torch.Tensor:
        return self._m(y)


class NoModule:
    def __call__(self, y: torch.Tensor) -> torch.Tensor:
        return 2 * y


def snapshot(m: nn.Module) -> tuple[object, ...]:
    return (
        [x.training for x in m.modules()],
        [p.requires_grad for p in m.parameters()],
        [None if p.grad is None else p.grad.clone() for p in m.parameters()],
        {k: v.clone() for k, v in m.state_dict().items()},
    )


def same(a: tuple[object, ...], b: tuple[object, ...]) -> bool:
    if a[:2] != b[:2]:
        return False
    grads_a, grads_b = a[2], b[2]
    assert isinstance(grads_a, list) and isinstance(grads_b, list)
    if any((x is None) != (y is None) for x, y in zip(grads_a, grads_b, strict=True)):
        return False
    sa, sb = a[3], b[3]
    assert isinstance(sa, dict) and isinstance(sb, dict)
    return all(torch.equal(sa[k], sb[k]) for k in sa)


def fresh() -> nn.Sequential:
    net = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4), nn.Dropout(0.5)).train()
    net[1].running_mean.fill_(0.1)
    return net


# ------------------------------------------------------------------ discovery rules
def discovery_cases(net: nn.Module) -> dict[str, object]:
    def closure(y: torch.Tensor) -> torch.Tensor:
        return net(y)

    def outer(y: torch.Tensor) -> torch.Tensor:
        return closure(y)

    return {
        "module": net,
        "bound method": net.forward,
        "partial": functools.partial(lambda m, y: m(y), net),
        "closure": closure,
        "nested closure": outer,
        "lambda": lambda y: net(y),
        "wrapper object": Wrapper(net),
        "wrapper in a list": [Wrapper(net)],
        "wrapper in a dict": {"g": Wrapper(Wrapper(net))},
        "default argument": lambda y, m=net: m(y),
        "Estimator": sr.Estimator(lambda y: net(y)),
        "Consistent over a lambda": Consistent(lambda u: net(u), Inpainting(torch.ones(2, 2))),
    }


@pytest.mark.parametrize("case", list(discovery_cases(nn.Identity())))
def test_discovery_finds_the_module(case: str) -> None:
    net = fresh()
    found = find_modules(discovery_cases(net)[case])
    assert any(net is r or net in list(r.modules()) for r in found.roots)


def test_discovery_resolves_global_names() -> None:
    assert NET in find_modules(uses_global).roots
    assert NET in find_modules(lambda y: uses_global(y)).roots


def test_frozen_restores_everything_on_exception() -> None:
    net = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2), nn.Dropout()).train()
    net[2].eval()
    net[0].bias.requires_grad_(False)
    buf = net[1].running_mean
    with pytest.raises(KeyError), frozen(net):
        assert not any(m.training for m in net.modules())
        assert not any(p.requires_grad for p in net.parameters())
        assert net[1].running_mean is buf  # a built-in layer in eval mode: no copy needed
        raise KeyError("x")
    assert [m.training for m in net.modules()] == [True, True, True, False]
    assert net[0].weight.requires_grad and not net[0].bias.requires_grad
    assert net[1].running_mean is buf


def test_frozen_can_keep_mode_or_parameters() -> None:
    net = nn.Linear(2, 2).train()
    with frozen(net, eval_mode=False):
        assert net.training and not net.weight.requires_grad
    with frozen(net, freeze_parameters=False):
        assert not net.training and net.weight.requires_grad


class Counter(nn.Module):
    """A user module that writes a buffer even in eval mode."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("seen", torch.zeros(()))

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        self.seen += 1
        return y


def test_user_modules_writing_buffers_in_eval_mode_are_protected() -> None:
    c = Counter()
    sensitivity_at(lambda y: 2 * c(y), torch.rand(2, 3), 0.1, solver=PGD(steps=3))
    assert float(c.seen) == 0.0
    c(torch.zeros(1))  # unguarded: it counts
    assert float(c.seen) == 1.0


def test_buffers_written_inside_the_guard_are_discarded() -> None:
    bn = nn.BatchNorm1d(3).train()
    with frozen(bn, eval_mode=False, freeze_parameters=False):
        bn(torch.randn(8, 3))
        assert int(bn.num_batches_tracked) == 1
    assert int(bn.num_batches_tracked) == 0 and torch.equal(bn.running_mean, torch.zeros(3))


# ------------------------------------------------------------------ the leak
def test_consistent_wrapper_of_the_docs_is_guarded() -> None:
    # The case: Estimator(Consistent(lambda u, z: net(torch.cat([u, z], 1)), op), ...)
    net = nn.Sequential(nn.Conv2d(2, 1, 1), nn.BatchNorm2d(1), nn.Dropout(0.5)).train()
    before = snapshot(net)
    op = Inpainting(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    est = sr.Estimator(Consistent(lambda u, z: net(torch.cat([u, z], 1)), op), seed_shape=(1, 2, 2))
    y = torch.rand(3, 1, 2, 2)
    run = functools.partial(
        sensitivity_at, est, y, 0.1, n_seeds=2, solver=PGD(steps=3), data_range=None
    )
    a = run(generator=torch.Generator().manual_seed(0))
    assert same(snapshot(net), before) and int(net[1].num_batches_tracked) == 0
    assert torch.equal(a.value, run(generator=torch.Generator().manual_seed(0)).value)


@pytest.mark.parametrize(
    "make",
    [
        lambda net: sr.Estimator(lambda y, z: Wrapper(net)(y + z), seed_shape=(4,)),
        lambda net: Wrapper(net),
        lambda net: functools.partial(lambda m, y: m(y), net),
    ],
    ids=["closure over wrapper", "wrapper", "partial"],
)
def test_sensitivity_at_leaves_batchnorm_and_dropout_alone(make) -> None:
    net = fresh()
    before = snapshot(net)
    y = torch.rand(3, 4)
    kw = {"n_seeds": 2, "solver": PGD(steps=3), "data_range": None}
    a = sensitivity_at(make(net), y, 0.1, generator=torch.Generator().manual_seed(0), **kw)
    assert same(snapshot(net), before) and int(net[1].num_batches_tracked) == 0
    b = sensitivity_at(make(net), y, 0.1, generator=torch.Generator().manual_seed(0), **kw)
    assert torch.equal(a.value, b.value)  # dropout off: the same generator, the same result


def test_global_network_is_guarded() -> None:
    NET.train()
    before = snapshot(NET)
    sensitivity_at(uses_global, torch.rand(3, 4), 0.1, solver=PGD(steps=2))
    assert same(snapshot(NET), before)


def test_explicit_modules_escape_hatch() -> None:
    net = fresh()
    with pytest.warns(sr.GuardWarning, match="Slotted"):
        sensitivity_at(Slotted(net), torch.rand(3, 4), 0.1, solver=PGD(steps=1))
    assert int(net[1].num_batches_tracked) > 0  # unguarded: the leak the warning announces
    net = fresh()
    before = snapshot(net)
    with warnings.catch_warnings():
        warnings.simplefilter("error", sr.GuardWarning)  # no guard warning with modules=
        est = sr.Estimator(Slotted(net), modules=[net])
        sensitivity_at(est, torch.rand(3, 4), 0.1, solver=PGD(steps=1), warn=False)
    assert same(snapshot(net), before)


def test_guard_warning_only_for_opaque_callables_and_once() -> None:
    _guard._WARNED.discard("NoModule")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(3):
            sr.Estimator(NoModule())(torch.zeros(2, 3))
        sr.Estimator(lambda y: y)(torch.zeros(2, 3))
        sr.Estimator(NoModule(), modules=())(torch.zeros(2, 3))
    kinds = [w for w in caught if issubclass(w.category, sr.GuardWarning)]
    assert len(kinds) == 1 and "NoModule" in str(kinds[0].message)


# ------------------------------------------------------------------ once per public call
def test_one_guard_entry_per_public_call() -> None:
    net = fresh()
    est = sr.Estimator(lambda y, z: net(y + z), seed_shape=(4,))
    start = _guard.ENTRIES[0]
    sensitivity_at(est, torch.rand(3, 4), 0.1, n_seeds=3, solver=PGD(steps=5))
    assert _guard.ENTRIES[0] - start == 1
    start = _guard.ENTRIES[0]
    sr.sensitivity.robustness(
        est, torch.rand(6, 4), 0.1, batch_size=2, n_seeds=2, solver=PGD(steps=2), progress=False
    )
    assert _guard.ENTRIES[0] - start == 1


def test_estimator_methods_guard_when_called_directly() -> None:
    net = fresh()
    before = snapshot(net)
    est = sr.Estimator(lambda y, z: net(y + z), seed_shape=(4,))
    y = torch.rand(3, 4)
    est.sample(y, 2)
    est(y, torch.zeros(3, 4))
    assert same(snapshot(net), before)


def test_regulariser_keeps_train_mode_and_buffers() -> None:
    net = fresh()
    net[2].p = 0.0
    before = snapshot(net)
    loss = RobustnessRegularizer(0.1, solver=PGD(steps=2))(net, torch.rand(6, 4))
    loss.backward()
    state = snapshot(net)
    assert state[:2] == before[:2] and all(g is not None for g in state[2])  # type: ignore[union-attr]
    assert int(net[1].num_batches_tracked) == 0


# ------------------------------------------------------------------ typed failures
def test_model_failure_is_a_chained_model_error_with_context() -> None:
    net = fresh()
    before = snapshot(net)
    calls = {"n": 0}

    def flaky(y: torch.Tensor) -> torch.Tensor:
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("boom")
        return net(y)

    with pytest.raises(sr.ModelError) as info:
        sensitivity_at(flaky, torch.rand(3, 4), 0.1, solver=PGD(steps=4))
    msg = str(info.value)
    assert msg.startswith("estimator: expected a model that runs on y of shape (3, 4)")
    assert "sensitivity_at, perturbed pass (model call 2)" in msg and "torch.float32" in msg
    assert isinstance(info.value.__cause__, RuntimeError)
    assert same(snapshot(net), before)


def test_stage_labels_clean_pass_and_chunks() -> None:
    def bad(y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        if y.shape[0] < 4:
            raise ValueError("small chunk")
        return y + z

    est = sr.Estimator(bad, seed_shape=(2,), max_batch=4)
    with pytest.raises(sr.ModelError, match=r"clean pass \(model call 2, seed chunk 2/2\)"):
        sensitivity_at(est, torch.rand(3, 2), 0.1, n_seeds=2)


def test_hints() -> None:
    lin = nn.Linear(3, 3)
    with pytest.raises(sr.ModelError, match=r"Likely fix: y has dtype torch.float64 .*float32"):
        sensitivity_at(lin, torch.rand(2, 3, dtype=torch.float64), 0.1)
    with pytest.raises(sr.ModelError, match="Estimator\\(model, seed_shape=...\\)"):
        sensitivity_at(lambda y, z: y + z, torch.rand(2, 3), 0.1)
    conv = nn.Conv2d(3, 2, 3, padding=1)
    with pytest.raises(sr.ModelError, match="check y's shape"):
        sensitivity_at(conv, torch.rand(2, 4, 5, 5), 0.1)


def test_output_type_checks() -> None:
    with pytest.raises(sr.ModelError, match="real floating-point tensor.*torch.int64"):
        sensitivity_at(lambda y: (y * 10).long(), torch.rand(2, 3), 0.1)
    with pytest.raises(sr.ModelError, match="real floating-point tensor.*complex"):
        sensitivity_at(lambda y: y.to(torch.complex64), torch.rand(2, 3), 0.1)
    with pytest.raises(sr.ModelError, match="output batch of 2 rows"):
        sensitivity_at(lambda y: y[:1], torch.rand(2, 3), 0.1)


def test_run_model_outside_a_guard_and_stage_without_context() -> None:
    with stage("ignored"):
        out = run_model(lambda y: y, torch.zeros(2, 1), None)
    assert out.shape == (2, 1)
    with guard(nn.Identity(), entry="mine", arg="net"), stage("probe"):
        with pytest.raises(sr.ModelError, match=r"^net: .* in mine, probe \(model call 1\)"):
            run_model(lambda y: 1 / 0, torch.zeros(2, 1), None)


def test_our_errors_pass_through_unchanged() -> None:
    inner = sr.Estimator(lambda y: y)

    def model(y: torch.Tensor) -> torch.Tensor:
        return inner(y[0])  # a 1-D input: stochrobust's own ShapeError

    with pytest.raises(sr.ShapeError, match="y: expected a batch"):
        sensitivity_at(model, torch.rand(2, 3), 0.1)


def test_deepcopy_of_a_guarded_module_is_unaffected() -> None:
    net = fresh()
    with frozen(net):
        clone = copy.deepcopy(net)
    assert not clone.training  # a copy taken inside sees the guarded state; the original not
    assert net.training
