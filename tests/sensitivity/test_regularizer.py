from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn

from stochrobust import Estimator, RangeError, StochRobustTypeError
from stochrobust.sensitivity import (
    PGD,
    AdamAscent,
    RobustnessRegularizer,
    robustness,
    sensitivity_at,
)


def test_every_third_call_applies_and_skipped_calls_do_not_touch_the_model(
    stateful_net,
) -> None:
    net = stateful_net()
    reg = RobustnessRegularizer(0.2, solver=AdamAscent(steps=2), every=3)
    y = torch.rand(2, 1, 4, 4)
    applied = []
    for _ in range(7):
        will = reg.applies_next
        n_before = len(net.calls)
        loss = reg(net, y)
        applied.append(len(net.calls) > n_before)
        assert will == applied[-1]
        assert (float(loss.detach()) > 0) == applied[-1]
    assert applied == [False, False, True, False, False, True, False]
    assert reg.step_count == 7
    reg.eval()
    assert float(reg(net, y).detach()) > 0 and reg.step_count == 7  # eval: always computed
    reg.train()
    reg.reset()
    assert reg.step_count == 0 and not reg.applies_next
    reg.reset(2)
    assert reg.applies_next
    assert "every=3" in repr(reg)


@pytest.mark.parametrize("stochastic", [False, True])
def test_gradients_reach_the_parameters_and_the_state_is_unchanged(
    stochastic, stateful_net, state
) -> None:
    snap, same = state
    net = stateful_net(stochastic)
    for p in net.parameters():
        p.grad = None
    model = Estimator(net, seed_shape=(4, 4, 4), eval_mode=False) if stochastic else net
    y = torch.rand(3, 1, 4, 4)
    y_copy = y.clone()
    before = snap(net)
    loss = RobustnessRegularizer(0.3, n_seeds=3, solver=AdamAscent(steps=2))(model, y)
    same(before, snap(net))  # mode, flags, .grad, BatchNorm buffers: all as before
    assert torch.equal(y, y_copy)
    assert loss.ndim == 0 and loss.requires_grad
    loss.backward()
    assert net.conv.weight.grad is not None and bool(net.conv.weight.grad.abs().sum() > 0)
    assert net.out.bias.grad is None  # frozen by the caller, stays frozen
    k = 3 if stochastic else 1
    assert net.calls[-1] == 2 * 3 * k  # clean and perturbed halves fused in one call


@pytest.mark.parametrize("fail_after", [3, 5], ids=["in-attack", "in-final-evaluation"])
def test_state_is_restored_when_the_model_raises(fail_after, stateful_net, state) -> None:
    snap, same = state
    net = stateful_net(fail_after=fail_after)  # calls: clean, 2 grads, final, fused (5th)
    before = snap(net)
    buffers = [id(b) for b in net.buffers()]
    with pytest.raises(RuntimeError, match="boom"):
        RobustnessRegularizer(0.3, solver=AdamAscent(steps=2))(net, torch.rand(2, 1, 4, 4))
    same(before, snap(net))
    assert [id(b) for b in net.buffers()] == buffers  # the original buffer objects are back


def test_loss_is_eq7_at_the_attack_and_differentiable_through_both_passes() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 3)).double().eval()
    y = torch.rand(4, 3, dtype=torch.float64)
    solver = AdamAscent(steps=3, lr=0.05)
    reg = RobustnessRegularizer(0.2, solver=solver, reduction="sum")
    loss = reg(net, y, torch.Generator().manual_seed(1))
    res = sensitivity_at(net, y, 0.2, solver=solver, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(loss, res.value.mean(), rtol=1e-10, atol=1e-12)
    loss.backward()
    ours = [p.grad.clone() for p in net.parameters()]
    net.zero_grad()
    ref = (net(y + res.delta) - net(y)).pow(2).sum(1).mean()  # both passes differentiable
    ref.backward()
    for a, p in zip(ours, net.parameters(), strict=True):
        torch.testing.assert_close(a, p.grad, rtol=1e-8, atol=1e-12)


def test_training_mode_batchnorm_uses_batch_statistics_but_keeps_buffers() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 6), nn.BatchNorm1d(6), nn.Tanh(), nn.Linear(6, 2)).train()
    bn = net[1]
    mean, var, count = bn.running_mean.clone(), bn.running_var.clone(), int(bn.num_batches_tracked)
    loss = RobustnessRegularizer(0.3, solver=AdamAscent(steps=2))(net, torch.rand(8, 3))
    loss.backward()
    assert torch.equal(bn.running_mean, mean) and torch.equal(bn.running_var, var)
    assert int(bn.num_batches_tracked) == count and net.training and bn.training
    assert net[0].weight.grad is not None


def test_presets_and_bad_arguments() -> None:
    nat = RobustnessRegularizer.paper_natural_images(2.5)
    assert (nat.n_seeds, nat.every, nat.solver.steps, nat.solver.lr) == (10, 3, 5, 1.0)
    toy = RobustnessRegularizer.paper_toy()
    assert (toy.eps, toy.n_seeds, toy.solver.steps, toy.solver.lr) == (1e-3, 50, 4, 1e-4)
    assert isinstance(RobustnessRegularizer(0.1).solver, AdamAscent)
    with pytest.raises(RangeError):
        RobustnessRegularizer(-0.1)
    with pytest.raises(RangeError):
        RobustnessRegularizer(0.1, every=0)
    with pytest.raises(RangeError):
        RobustnessRegularizer(0.1, n_seeds=0)
    with pytest.raises(StochRobustTypeError):
        RobustnessRegularizer(0.1, solver="adam")  # type: ignore[arg-type]
    with pytest.raises(RangeError, match="^reduction: expected one of"):
        RobustnessRegularizer(0.1, reduction="none")  # type: ignore[arg-type]
    assert (nat.reduction, toy.reduction, RobustnessRegularizer(0.1).reduction) == (
        "mean", "sum", "mean"
    )  # fmt: skip
    zero = RobustnessRegularizer(0.0)(nn.Linear(2, 2), torch.rand(3, 2))
    assert float(zero) == 0.0


def test_fine_tuning_with_the_regulariser_lowers_measured_sensitivity() -> None:
    """An MLP fitted to sin(4y), then fine-tuned 200 steps with L_R: >= 2x more robust."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(2, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh(),
                        nn.Linear(32, 2))  # fmt: skip
    g = torch.Generator().manual_seed(0)
    train = torch.rand(256, 2, generator=g) * 2 - 1
    held_out = torch.rand(64, 2, generator=g) * 2 - 1

    def fit(model: nn.Module, steps: int, lam: float, seed: int) -> None:
        reg = RobustnessRegularizer(0.05, solver=AdamAscent(steps=3, lr=0.02))
        opt = torch.optim.Adam(model.parameters(), lr=3e-3)
        gen = torch.Generator().manual_seed(seed)
        for _ in range(steps):
            y = train[torch.randint(0, 256, (32,), generator=gen)]
            loss = (model(y) - torch.sin(4 * y)).pow(2).mean()
            if lam:
                loss = loss + lam * reg(model, y, generator=gen)
            opt.zero_grad()
            loss.backward()
            opt.step()

    def sqrt_r_tilde(model: nn.Module) -> float:
        return robustness(
            model, held_out, 0.05, solver=PGD(steps=10), progress=False,
            generator=torch.Generator().manual_seed(1), data_range=None,
        ).sqrt_r_tilde  # fmt: skip

    fit(net, 300, 0.0, 1)
    before = sqrt_r_tilde(net)
    plain, robust = copy.deepcopy(net), copy.deepcopy(net)
    fit(plain, 200, 0.0, 2)  # control: the same fine-tuning without L_R
    fit(robust, 200, 300.0, 2)
    assert sqrt_r_tilde(robust) <= 0.5 * before
    assert sqrt_r_tilde(robust) <= 0.5 * sqrt_r_tilde(plain)


@pytest.mark.parametrize("shape", [(3,), (2, 3, 4)])
def test_mean_reduction_divides_eq6_by_the_output_size(shape: tuple[int, ...]) -> None:
    # G(y) = 2 y: eq. 6 at the optimum is (2 eps)^2 = 0.16 for every sample (a sum over
    # the D outputs); the mean reduction is 0.16 / D, the sum 0.16, whatever the shape.
    model = lambda v: 2 * v  # noqa: E731
    y = torch.rand(5, *shape, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    size = math.prod(shape)
    mean = RobustnessRegularizer(0.2, solver=PGD(steps=20)).eval()
    total = RobustnessRegularizer(0.2, solver=PGD(steps=20), reduction="sum").eval()
    got_mean = float(mean(model, y, torch.Generator().manual_seed(3)))
    got_sum = float(total(model, y, torch.Generator().manual_seed(3)))
    assert got_sum == pytest.approx(0.16, rel=1e-9)
    assert got_mean == pytest.approx(0.16 / size, rel=1e-9)
    assert "reduction='mean'" in repr(mean)
